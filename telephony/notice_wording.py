"""What each notice says, per locale: the brand, what happened, what to do if it was not them.

Never a code or a link (a notice asks for nothing, so a phisher's copy of it has nothing to point
at), and GSM-7 wherever the language allows it (a GSM-7 SMS carries 160 characters, a UCS-2 one
70): Spanish says "si no reconoces este cambio" rather than "si no fuiste tú" for that reason.
Portuguese cannot do without ã and ê, so its notices are UCS-2; every one fits two segments.
"""

from __future__ import annotations

from telephony.notices import NoticeKind

K = NoticeKind
NOTICE_WORDING: dict[str, dict[NoticeKind, str]] = {
    "en": {
        K.NUMBER_VERIFIED: "{brand}: your phone number is now verified. If this was not you, contact our support.",
        K.PASSWORD_RESET: "{brand}: your password was reset. If this was not you, contact our support at once.",
        K.PASSWORD_CHANGED: "{brand}: your password was changed. If this was not you, reset it and contact our "
        "support.",
        K.PHONE_CHANGE_REQUESTED: "{brand}: someone asked to change the phone number on your account. If this was "
        "not you, change your password and contact our support.",
        K.PHONE_CHANGED: "{brand}: the phone number on your account was changed. If this was not you, contact our "
        "support at once.",
    },
    "es": {
        K.NUMBER_VERIFIED: "{brand}: tu teléfono ha sido verificado. Si no reconoces este cambio, contacta con "
        "nuestro soporte.",
        K.PASSWORD_RESET: "{brand}: tu contraseña ha sido restablecida. Si no reconoces este cambio, contacta con "
        "nuestro soporte.",
        K.PASSWORD_CHANGED: "{brand}: tu contraseña ha sido cambiada. Si no reconoces este cambio, restablécela y "
        "contacta con nuestro soporte.",
        K.PHONE_CHANGE_REQUESTED: "{brand}: se ha pedido cambiar el teléfono de tu cuenta. Si no reconoces esta "
        "solicitud, cambia tu contraseña y contacta con nuestro soporte.",
        K.PHONE_CHANGED: "{brand}: el teléfono de tu cuenta ha sido cambiado. Si no reconoces este cambio, contacta "
        "con nuestro soporte.",
    },
    "fr": {
        K.NUMBER_VERIFIED: "{brand} : votre numéro de téléphone est vérifié. Si ce n'était pas vous, contactez "
        "notre support.",
        K.PASSWORD_RESET: "{brand} : votre mot de passe a été réinitialisé. Si ce n'était pas vous, contactez notre "
        "support.",
        K.PASSWORD_CHANGED: "{brand} : votre mot de passe a été modifié. Si ce n'était pas vous, réinitialisez-le et "
        "contactez notre support.",
        K.PHONE_CHANGE_REQUESTED: "{brand} : un changement du numéro de téléphone de votre compte a été demandé. Si "
        "ce n'était pas vous, changez votre mot de passe et contactez notre support.",
        K.PHONE_CHANGED: "{brand} : le numéro de téléphone de votre compte a été modifié. Si ce n'était pas vous, "
        "contactez notre support.",
    },
    "de": {
        K.NUMBER_VERIFIED: "{brand}: Ihre Telefonnummer ist jetzt bestätigt. Falls Sie das nicht waren, wenden Sie "
        "sich an unseren Support.",
        K.PASSWORD_RESET: "{brand}: Ihr Passwort wurde zurückgesetzt. Falls Sie das nicht waren, wenden Sie sich an "
        "unseren Support.",
        K.PASSWORD_CHANGED: "{brand}: Ihr Passwort wurde geändert. Falls Sie das nicht waren, setzen Sie es zurück "
        "und wenden Sie sich an unseren Support.",
        K.PHONE_CHANGE_REQUESTED: "{brand}: Für Ihr Konto wurde eine neue Telefonnummer angefragt. Falls Sie das "
        "nicht waren, ändern Sie Ihr Passwort und wenden Sie sich an unseren Support.",
        K.PHONE_CHANGED: "{brand}: Die Telefonnummer Ihres Kontos wurde geändert. Falls Sie das nicht waren, wenden "
        "Sie sich an unseren Support.",
    },
    "pt": {
        K.NUMBER_VERIFIED: "{brand}: o seu número de telefone foi verificado. Se não foi você, contacte o nosso apoio.",
        K.PASSWORD_RESET: "{brand}: a sua senha foi redefinida. Se não foi você, contacte o nosso apoio.",
        K.PASSWORD_CHANGED: "{brand}: a sua senha foi alterada. Se não foi você, redefina-a e contacte o nosso apoio.",
        K.PHONE_CHANGE_REQUESTED: "{brand}: foi pedida a troca do telefone da sua conta. Se não foi você, mude a "
        "senha e contacte o apoio.",
        K.PHONE_CHANGED: "{brand}: o número de telefone da sua conta foi alterado. Se não foi você, contacte o nosso "
        "apoio.",
    },
    "it": {
        K.NUMBER_VERIFIED: "{brand}: il tuo numero di telefono è stato verificato. Se non sei stato tu, contatta il "
        "nostro supporto.",
        K.PASSWORD_RESET: "{brand}: la tua password è stata reimpostata. Se non sei stato tu, contatta il nostro "
        "supporto.",
        K.PASSWORD_CHANGED: "{brand}: la tua password è stata cambiata. Se non sei stato tu, reimpostala e contatta "
        "il nostro supporto.",
        K.PHONE_CHANGE_REQUESTED: "{brand}: è stato chiesto di cambiare il numero di telefono del tuo account. Se "
        "non sei stato tu, cambia la password e contatta il nostro supporto.",
        K.PHONE_CHANGED: "{brand}: il numero di telefono del tuo account è stato cambiato. Se non sei stato tu, "
        "contatta il nostro supporto.",
    },
}


def notice_sms(locale: str, kind: NoticeKind, *, brand: str) -> str:
    return NOTICE_WORDING.get(locale, NOTICE_WORDING["en"])[kind].format(brand=brand)
