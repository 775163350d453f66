"""Inbound SMS keywords: opt-out and opt-in, help, asking for the code again by call or SMS, and
the answers to approval requests (`YES 4821`, `NO 4821`).

Keywords are matched case- and space-insensitively. CALL and RESEND act on the number's newest
verification through the service, so they obey the same limits and cooldowns as the API.
"""

from __future__ import annotations

import contextlib

from telephony.approval_service import ApprovalService
from telephony.approvals import parse_reply
from telephony.errors import NotFound, NotPending, OptedOut, ProviderFailed, RateLimited, StoreUnavailable
from telephony.events import event
from telephony.models import Channel
from telephony.phone import InvalidPhoneNumber, to_e164
from telephony.providers.base import InboundSms
from telephony.service import VerificationService
from telephony.wording import locale_for, reply

STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START = frozenset({"START", "UNSTOP", "YES"})
SEEN_FOR = 7 * 86400  # carriers retry for hours at most; a week covers every retry policy
CLAIM_FOR = 60  # a message being handled; a claim left by a process that died lapses after this


def handle_inbound(service: VerificationService, provider: str, message: InboundSms) -> str | None:
    """The reply text for an inbound SMS, or None for no reply (unknown words, repeats, refused replies).

    A message is claimed while it is handled and marked seen only once handled: if the store
    fails half-way, the carrier's retry is handled again rather than dropped as a duplicate
    (every keyword is safe to apply twice: opt-outs are idempotent, sends have cooldowns).
    """
    try:
        number = to_e164(message.from_number)
    except InvalidPhoneNumber:
        return None  # short codes and alphanumeric senders cannot verify anything
    seen = f"{provider}:{message.message_id}"
    if not service.store.first_seen(number, seen, ttl=CLAIM_FOR):
        event("sms.inbound_repeat", provider=provider, message=message.message_id)
        return None
    try:
        text = _handle(service, provider, message, number)
    except Exception:
        with contextlib.suppress(StoreUnavailable):
            service.store.forget(number, seen)  # else the claim lapses after CLAIM_FOR
        raise
    service.store.remember(number, seen, ttl=SEEN_FOR)
    return text if text is None or service.may_reply(number) else None


def _handle(service: VerificationService, provider: str, message: InboundSms, number: str) -> str | None:
    keyword = "".join(message.body.split()).upper()
    locale = locale_for(number)
    brand = service.settings.otp_brand
    answer = parse_reply(message.body)  # `YES 4821`: an approval's answer (a bare YES stays START)
    if answer is not None:
        event("sms.inbound", provider=provider, message=message.message_id, keyword="approval")
        return ApprovalService(service).on_reply(number, *answer, locale)
    known = keyword in STOP | START | {"HELP", "CALL", "RESEND"}
    # Only known keywords are logged: people do reply with their code.
    event("sms.inbound", provider=provider, message=message.message_id, keyword=keyword if known else "other")
    if keyword in STOP:
        service.store.set_opted_out(number, True)
        return reply(locale, "stopped", brand=brand)
    if keyword in START:
        service.store.set_opted_out(number, False)
        return reply(locale, "started", brand=brand)
    if keyword == "HELP":
        return reply(locale, "help", brand=brand)
    if keyword in ("CALL", "RESEND"):
        return _send_again(service, number, Channel.CALL if keyword == "CALL" else Channel.SMS, locale)
    return None


def _send_again(service: VerificationService, number: str, channel: str, locale: str) -> str | None:
    brand = service.settings.otp_brand
    vid = service.store.latest_for(number)
    try:
        if vid is None:
            raise NotFound("nothing pending")
        v = service.resend(vid, channel)
    except (NotFound, NotPending):
        return reply(locale, "nothing_pending", brand=brand)
    except RateLimited as exc:
        return reply(locale, "wait", brand=brand, seconds=exc.retry_after or 30)
    except OptedOut:
        return reply(locale, "opted_out", brand=brand)
    except ProviderFailed:
        return None  # the failed attempts are on the verification's record; the user may ask again
    return reply(v.locale, "calling" if channel == Channel.CALL else "resent", brand=brand)
