"""What an approval request says, per locale: its SMS (kept to two segments), its call, its replies.

The reply words stay YES and NO in every language (what the reply grammar reads), and the request's
own words are GSM-7 in every locale, so the SMS is GSM-7 unless the caller's message is not: a
GSM-7 SMS carries 153 characters a segment, a UCS-2 one 67. Details that do not fit are cut with
an ellipsis rather than sending a third segment; `hidden_details` never reach this module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApprovalWording:
    ask: str  # ends the SMS
    intro: str  # the call, before the message
    menu: str
    approved: str  # said on the call, and the SMS reply, once answered
    denied: str
    closed: str  # a reply or keypress to an approval no longer pending
    unknown: str  # a reply whose reference matches nothing pending


APPROVAL_WORDING = {
    "en": ApprovalWording(
        ask="Reply YES {ref} to approve or NO {ref} to deny.",
        intro="Hello. This is {brand}. Please approve or deny this request:",
        menu="Press 1 to approve, or 2 to deny.",
        approved="{brand}: approved. Thank you.",
        denied="{brand}: denied. If this was not you, change your password.",
        closed="{brand}: this request was already answered or has expired.",
        unknown="{brand}: no request with that reference is waiting for you.",
    ),
    "es": ApprovalWording(
        ask="Responde YES {ref} para aprobar o NO {ref} para rechazar.",
        intro="Hola. Le llamamos de {brand}. Apruebe o rechace esta solicitud:",
        menu="Pulse 1 para aprobar, o 2 para rechazar.",
        approved="{brand}: aprobado. Gracias.",
        denied="{brand}: rechazado. Si no fuiste tú, cambia tu contraseña.",
        closed="{brand}: esta solicitud ya fue respondida o ha caducado.",
        unknown="{brand}: ninguna solicitud con esa referencia te espera.",
    ),
    "fr": ApprovalWording(
        ask="Répondez YES {ref} pour approuver ou NO {ref} pour refuser.",
        intro="Bonjour. Ici {brand}. Veuillez approuver ou refuser cette demande :",
        menu="Appuyez sur 1 pour approuver, ou sur 2 pour refuser.",
        approved="{brand} : approuvé. Merci.",
        denied="{brand} : refusé. Si ce n'était pas vous, changez votre mot de passe.",
        closed="{brand} : cette demande a déjà reçu une réponse ou a expiré.",
        unknown="{brand} : aucune demande avec cette référence ne vous attend.",
    ),
    "de": ApprovalWording(
        ask="Antworten Sie YES {ref} zum Bestätigen oder NO {ref} zum Ablehnen.",
        intro="Hallo. Hier ist {brand}. Bitte bestätigen oder lehnen Sie diese Anfrage ab:",
        menu="Drücken Sie 1 zum Bestätigen oder 2 zum Ablehnen.",
        approved="{brand}: bestätigt. Danke.",
        denied="{brand}: abgelehnt. Falls Sie das nicht waren, ändern Sie Ihr Passwort.",
        closed="{brand}: diese Anfrage wurde schon beantwortet oder ist abgelaufen.",
        unknown="{brand}: keine Anfrage mit dieser Referenz wartet auf Sie.",
    ),
    "pt": ApprovalWording(
        ask="Responda YES {ref} para aprovar ou NO {ref} para recusar.",
        intro="Olá. Aqui fala {brand}. Aprove ou recuse este pedido:",
        menu="Prima 1 para aprovar, ou 2 para recusar.",
        approved="{brand}: aprovado. Obrigado.",
        denied="{brand}: recusado. Se não foi você, mude a sua senha.",
        closed="{brand}: este pedido já foi respondido ou expirou.",
        unknown="{brand}: nenhum pedido com essa referência está à sua espera.",
    ),
    "it": ApprovalWording(
        ask="Rispondi YES {ref} per approvare o NO {ref} per rifiutare.",
        intro="Buongiorno. Qui {brand}. Approvi o rifiuti questa richiesta:",
        menu="Prema 1 per approvare, o 2 per rifiutare.",
        approved="{brand}: approvato. Grazie.",
        denied="{brand}: rifiutato. Se non eri tu, cambia la password.",
        closed="{brand}: questa richiesta ha già avuto risposta o è scaduta.",
        unknown="{brand}: nessuna richiesta con questo riferimento ti aspetta.",
    ),
}

# GSM 03.38: the default alphabet (one septet each) and its extension table (two: escape + char).
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
TWO_SEGMENTS = {"gsm7": 2 * 153, "ucs2": 2 * 67}


def approval_words(locale: str) -> ApprovalWording:
    return APPROVAL_WORDING.get(locale, APPROVAL_WORDING["en"])


def encoding(text: str) -> str:
    return "gsm7" if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text) else "ucs2"


def length(text: str) -> int:
    """Characters as a carrier counts them: septets in GSM-7, UTF-16 code units in UCS-2."""
    if encoding(text) == "gsm7":
        return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def fits(text: str) -> bool:
    return length(text) <= TWO_SEGMENTS[encoding(text)]


def approval_sms(locale: str, *, brand: str, message: str, details: dict[str, str], reference: str) -> str:
    """`{brand}: {message} (Key: value; …). Reply YES 4821 to approve or NO 4821 to deny.`, two
    segments at most: details are cut first (with an ellipsis), then the message."""
    ask = approval_words(locale).ask.format(ref=reference)
    head = f"{brand}: {message.rstrip('.')}"
    listed = "; ".join(f"{k}: {v}" for k, v in details.items())

    def body(head: str, listed: str) -> str:
        return f"{head} ({listed}). {ask}" if listed else f"{head}. {ask}"

    if fits(body(head, listed)):
        return body(head, listed)
    dots = "..." if encoding(body(head, "")) == "gsm7" else "…"
    while listed and not fits(body(head, listed + dots)):
        listed = listed[:-1]
    if listed:
        return body(head, listed.rstrip() + dots)
    while not fits(body(head + dots, "")):
        head = head[:-1]
    return body(head.rstrip() + dots, "")


def approval_reply(locale: str, name: str, *, brand: str) -> str:
    text: str = getattr(approval_words(locale), name)
    return text.format(brand=brand)

