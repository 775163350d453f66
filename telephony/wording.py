"""Every word the service says or texts, per locale, and the voice that says it.

Texts hold no markup: templates escape them. `{brand}`, `{code}` and `{minutes}` are filled in
by `render`; nothing else is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    gate: str  # before the code when OTP_VOICE_PRESS_KEY=1, so voicemail cannot record it
    stopped: str
    started: str
    help: str
    calling: str
    resent: str
    nothing_pending: str
    wait: str
    opted_out: str


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
        gate="Hello. This is {brand}. Press any key to hear your verification code.",
        stopped="{brand}: you will no longer receive codes by SMS. Reply START to receive them again.",
        started="{brand}: you will receive codes by SMS again. Reply STOP to stop.",
        help="{brand} verification codes. Reply CALL to get your code by phone call, RESEND for a new text, STOP to opt out.",
        calling="{brand}: calling you now with your code.",
        resent="{brand}: your code is on its way again.",
        nothing_pending="{brand}: there is no code waiting for this number. Request one from the app.",
        wait="{brand}: please wait {seconds} seconds before asking again.",
        opted_out="{brand}: reply START first to receive codes by SMS.",
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
        gate="Hola. Le llamamos de {brand}. Pulse cualquier tecla para escuchar su código de verificación.",
        stopped="{brand}: ya no recibirás códigos por SMS. Responde START para volver a recibirlos.",
        started="{brand}: volverás a recibir códigos por SMS. Responde STOP para dejar de recibirlos.",
        help="Códigos de verificación de {brand}. Responde CALL para recibir tu código por llamada, RESEND para un nuevo SMS, STOP para darte de baja.",
        calling="{brand}: te llamamos ahora con tu código.",
        resent="{brand}: te volvemos a enviar tu código.",
        nothing_pending="{brand}: no hay ningún código pendiente para este número. Solicítalo desde la aplicación.",
        wait="{brand}: espera {seconds} segundos antes de volver a pedirlo.",
        opted_out="{brand}: responde START primero para recibir códigos por SMS.",
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
        gate="Bonjour. Ici {brand}. Appuyez sur une touche pour entendre votre code de vérification.",
        stopped="{brand} : vous ne recevrez plus de codes par SMS. Répondez START pour les recevoir à nouveau.",
        started="{brand} : vous recevrez à nouveau les codes par SMS. Répondez STOP pour arrêter.",
        help="Codes de vérification {brand}. Répondez CALL pour recevoir votre code par appel, RESEND pour un nouveau SMS, STOP pour vous désinscrire.",
        calling="{brand} : nous vous appelons maintenant avec votre code.",
        resent="{brand} : votre code vous est renvoyé.",
        nothing_pending="{brand} : aucun code n'est en attente pour ce numéro. Demandez-en un depuis l'application.",
        wait="{brand} : veuillez patienter {seconds} secondes avant de redemander.",
        opted_out="{brand} : répondez d'abord START pour recevoir les codes par SMS.",
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
        gate="Hallo. Hier ist {brand}. Drücken Sie eine beliebige Taste, um Ihren Bestätigungscode zu hören.",
        stopped="{brand}: Sie erhalten keine Codes mehr per SMS. Antworten Sie START, um sie wieder zu erhalten.",
        started="{brand}: Sie erhalten Codes wieder per SMS. Antworten Sie STOP, um sie abzubestellen.",
        help="{brand}-Bestätigungscodes. Antworten Sie CALL für einen Anruf mit Ihrem Code, RESEND für eine neue SMS, STOP zum Abbestellen.",
        calling="{brand}: Wir rufen Sie jetzt mit Ihrem Code an.",
        resent="{brand}: Ihr Code wird erneut gesendet.",
        nothing_pending="{brand}: Für diese Nummer liegt kein Code vor. Fordern Sie einen in der App an.",
        wait="{brand}: Bitte warten Sie {seconds} Sekunden, bevor Sie es erneut versuchen.",
        opted_out="{brand}: Antworten Sie zuerst START, um Codes per SMS zu erhalten.",
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
        gate="Olá. Aqui é da {brand}. Pressione qualquer tecla para ouvir seu código de verificação.",
        stopped="{brand}: você não receberá mais códigos por SMS. Responda START para voltar a recebê-los.",
        started="{brand}: você voltará a receber códigos por SMS. Responda STOP para cancelar.",
        help="Códigos de verificação {brand}. Responda CALL para receber seu código por ligação, RESEND para um novo SMS, STOP para cancelar.",
        calling="{brand}: estamos ligando agora com seu código.",
        resent="{brand}: seu código está sendo enviado novamente.",
        nothing_pending="{brand}: não há nenhum código pendente para este número. Solicite um pelo aplicativo.",
        wait="{brand}: aguarde {seconds} segundos antes de pedir de novo.",
        opted_out="{brand}: responda START primeiro para receber códigos por SMS.",
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
        gate="Salve. Qui è {brand}. Prema un tasto qualsiasi per ascoltare il suo codice di verifica.",
        stopped="{brand}: non riceverai più codici via SMS. Rispondi START per riceverli di nuovo.",
        started="{brand}: riceverai di nuovo i codici via SMS. Rispondi STOP per interrompere.",
        help="Codici di verifica {brand}. Rispondi CALL per ricevere il codice con una chiamata, RESEND per un nuovo SMS, STOP per disiscriverti.",
        calling="{brand}: ti stiamo chiamando con il tuo codice.",
        resent="{brand}: ti stiamo inviando di nuovo il codice.",
        nothing_pending="{brand}: non c'è nessun codice in attesa per questo numero. Richiedilo dall'app.",
        wait="{brand}: attendi {seconds} secondi prima di richiederlo.",
        opted_out="{brand}: rispondi prima START per ricevere i codici via SMS.",
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


# What each purpose's code is called; the login one is the word the texts above use.
PURPOSE_NOUNS = {
    "en": {"login": "verification code", "signup": "sign-up code", "password_reset": "password reset code",
           "phone_change": "number change code", "transaction": "transaction code"},
    "es": {"login": "código de verificación", "signup": "código de registro",
           "password_reset": "código para restablecer la contraseña", "phone_change": "código para cambiar de número",
           "transaction": "código de transacción"},
    "fr": {"login": "code de vérification", "signup": "code d'inscription",
           "password_reset": "code de réinitialisation du mot de passe", "phone_change": "code de changement de numéro",
           "transaction": "code de transaction"},
    "de": {"login": "Bestätigungscode", "signup": "Registrierungscode",
           "password_reset": "Code zum Zurücksetzen des Passworts", "phone_change": "Code zur Nummernänderung",
           "transaction": "Transaktionscode"},
    "pt": {"login": "código de verificação", "signup": "código de cadastro",
           "password_reset": "código de redefinição de senha", "phone_change": "código de alteração de número",
           "transaction": "código de transação"},
    "it": {"login": "codice di verifica", "signup": "codice di registrazione",
           "password_reset": "codice di reimpostazione della password", "phone_change": "codice di cambio numero",
           "transaction": "codice di transazione"},
}  # fmt: skip


def words(locale: str, purpose: str = "login") -> Wording:
    """The locale's words; a purpose other than login names its code in the SMS and the call."""
    found = WORDING.get(locale, WORDING["en"])
    if purpose == "login":
        return found
    nouns = PURPOSE_NOUNS.get(locale, PURPOSE_NOUNS["en"])
    login, named = nouns["login"], nouns[purpose]
    return replace(found, sms=found.sms.replace(login, named), intro=found.intro.replace(login, named))


def reply(locale: str, name: str, *, brand: str, **values: object) -> str:
    """An inbound-SMS reply by its field name (`stopped`, `help`, ...)."""
    template: str = getattr(words(locale), name)
    return template.format(brand=brand, **values)


# PSD2 dynamic linking: the payment the code approves, said beside it (the code is bound to both).
PAYMENT = {
    "en": "Payment of {amount} to {payee}.",
    "es": "Pago de {amount} a {payee}.",
    "fr": "Paiement de {amount} à {payee}.",
    "de": "Zahlung von {amount} an {payee}.",
    "pt": "Pagamento de {amount} para {payee}.",
    "it": "Pagamento di {amount} a {payee}.",
}


def payment_line(locale: str, amount: str, payee: str) -> str:
    """The payment a PSD2 code approves, said in the SMS and in the call ("" when there is none)."""
    if not (amount or payee):
        return ""
    return PAYMENT.get(locale, PAYMENT["en"]).format(amount=amount, payee=payee)


def sms_body(
    locale: str, *, brand: str, code: str, ttl: int, webotp_domain: str | None = None, amount: str = "",
    payee: str = "", app_hash: str = "", purpose: str = "login",
) -> str:  # fmt: skip
    """The code's SMS. With `webotp_domain`, a last line `@domain #code` lets browsers (WebOTP) and
    iOS offer the code to that site's pages, and to no other site. A PSD2 start names its payment;
    `app_hash` ends the message with the app's hash for Android's SMS Retriever."""
    minutes = max(1, round(ttl / 60))
    body = words(locale, purpose).sms.format(brand=brand, code=code, minutes=minutes)
    if amount or payee:
        body += " " + payment_line(locale, amount, payee)
    if webotp_domain:
        body += f"\n\n@{webotp_domain} #{code}"
    return f"{body}\n\n{app_hash}" if app_hash else body
