"""Every word the service says or texts, per locale, and the voice that says it.

Texts hold no markup: templates escape them. `{brand}`, `{code}` and `{minutes}` are filled in
by `render`; nothing else is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.phone import region_of


@dataclass(frozen=True)
class Wording:
    language: str  # BCP-47 tag for the text-to-speech `language` attribute
    voice: str  # Amazon Polly voice, understood by Twilio, SignalWire and Plivo
    sms: str
    intro: str
    again: str
    press_one: str
    goodbye: str
    unavailable: str


WORDING: dict[str, Wording] = {
    "en": Wording(
        "en-US",
        "Polly.Joanna",
        sms="Your {brand} verification code is {code}. It expires in {minutes} minutes. Do not share it with anyone.",
        intro="Hello. This is {brand}. Your verification code is:",
        again="Once again, your code is:",
        press_one="Press 1 to hear the code again.",
        goodbye="Goodbye.",
        unavailable="This code is no longer available. Please request a new one. Goodbye.",
    ),
    "es": Wording(
        "es-ES",
        "Polly.Lucia",
        sms="Tu código de verificación de {brand} es {code}. Caduca en {minutes} minutos. No lo compartas con nadie.",
        intro="Hola. Le llamamos de {brand}. Su código de verificación es:",
        again="Repetimos, su código es:",
        press_one="Pulse 1 para volver a escuchar el código.",
        goodbye="Adiós.",
        unavailable="Este código ya no está disponible. Solicite uno nuevo. Adiós.",
    ),
    "fr": Wording(
        "fr-FR",
        "Polly.Celine",
        sms="Votre code de vérification {brand} est {code}. Il expire dans {minutes} minutes. "
        "Ne le communiquez à personne.",
        intro="Bonjour. Ici {brand}. Votre code de vérification est :",
        again="Je répète, votre code est :",
        press_one="Appuyez sur 1 pour réécouter le code.",
        goodbye="Au revoir.",
        unavailable="Ce code n'est plus disponible. Veuillez en demander un nouveau. Au revoir.",
    ),
    "de": Wording(
        "de-DE",
        "Polly.Vicki",
        sms="Ihr {brand}-Bestätigungscode lautet {code}. Er läuft in {minutes} Minuten ab. "
        "Geben Sie ihn an niemanden weiter.",
        intro="Hallo. Hier ist {brand}. Ihr Bestätigungscode lautet:",
        again="Noch einmal, Ihr Code lautet:",
        press_one="Drücken Sie die 1, um den Code noch einmal zu hören.",
        goodbye="Auf Wiederhören.",
        unavailable="Dieser Code ist nicht mehr gültig. Bitte fordern Sie einen neuen an. Auf Wiederhören.",
    ),
    "pt": Wording(
        "pt-BR",
        "Polly.Camila",
        sms="Seu código de verificação {brand} é {code}. Ele expira em {minutes} minutos. "
        "Não o compartilhe com ninguém.",
        intro="Olá. Aqui é da {brand}. Seu código de verificação é:",
        again="Repetindo, seu código é:",
        press_one="Pressione 1 para ouvir o código novamente.",
        goodbye="Até logo.",
        unavailable="Este código não está mais disponível. Solicite um novo. Até logo.",
    ),
    "it": Wording(
        "it-IT",
        "Polly.Bianca",
        sms="Il tuo codice di verifica {brand} è {code}. Scade tra {minutes} minuti. Non condividerlo con nessuno.",
        intro="Salve. Qui è {brand}. Il suo codice di verifica è:",
        again="Ripeto, il suo codice è:",
        press_one="Prema 1 per riascoltare il codice.",
        goodbye="Arrivederci.",
        unavailable="Questo codice non è più disponibile. Ne richieda uno nuovo. Arrivederci.",
    ),
}
LOCALES = tuple(WORDING)

# Countries whose main language we speak; everything else hears English.
_COUNTRY_LOCALE = {
    **dict.fromkeys(["ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO",
                     "HN", "PY", "SV", "NI", "CR", "PA", "UY", "PR", "GQ"], "es"),
    **dict.fromkeys(["FR", "MC", "SN", "CI", "ML", "BF", "NE", "TG", "BJ", "GA", "CG", "CD",
                     "CM", "MG", "HT", "RE", "GP", "MQ", "GF", "PF", "NC", "YT"], "fr"),
    **dict.fromkeys(["DE", "AT", "LI"], "de"),
    **dict.fromkeys(["PT", "BR", "AO", "MZ", "CV", "GW", "ST", "TL"], "pt"),
    **dict.fromkeys(["IT", "SM", "VA"], "it"),
}  # fmt: skip


def locale_for(e164: str) -> str:
    """The locale a number's country most likely speaks."""
    return _COUNTRY_LOCALE.get(region_of(e164) or "", "en")


def words(locale: str) -> Wording:
    return WORDING.get(locale, WORDING["en"])


def sms_body(locale: str, *, brand: str, code: str, ttl: int) -> str:
    minutes = max(1, round(ttl / 60))
    return words(locale).sms.format(brand=brand, code=code, minutes=minutes)
