"""Console provider: sends nothing, prints each message or call (code included) for development.

This is the only place a code may be written to a log; configuration refuses it in production.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from telephony.phone import mask
from telephony.providers import twilio
from telephony.providers.base import InboundSms, ProviderSpec, StatusReport, WebhookRequest, required, unsigned

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

log = logging.getLogger("telephony.console")


class ConsoleProvider:
    name = "console"
    dialect = "twiml"
    replies_inline = True

    def __init__(self, store: Store) -> None:
        self._store = store

    def _keep(self, entry: dict[str, Any]) -> str:
        entry = {"id": "CN" + secrets.token_hex(16), **entry, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._store.outbox_push(entry)
        return str(entry["id"])

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        message_id = self._keep({"to": to, "channel": "sms", "body": body})
        log.info("event=console.sms to=%s id=%s body=%r", mask(to), message_id, body)
        return message_id

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        call_id = self._keep({"to": to, "channel": "call", "answer_url": answer_url})
        log.info("event=console.call to=%s id=%s answer_url=%s", mask(to), call_id, answer_url)
        return call_id

    def verify(self, request: WebhookRequest) -> bool:
        # Development only: whoever can reach the dev server can also read its outbox.
        return True

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        return request.form.first("AnsweredBy").startswith(("machine", "fax"))

    def message_status(self, request: WebhookRequest) -> StatusReport:
        message_id, status = required(request.form, "MessageSid", "MessageStatus")
        return StatusReport(message_id, status if status in _STATUSES else None, status)

    def call_status(self, request: WebhookRequest) -> StatusReport:
        call_id, status = required(request.form, "CallSid", "CallStatus")
        return StatusReport(call_id, status if status in _STATUSES else None, status)

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        return twilio.inbound_sms(request.form)


_STATUSES = {
    "queued", "sent", "delivered", "undelivered", "failed",
    "ringing", "answered", "completed", "busy", "no-answer",
}  # fmt: skip


def build(settings: Settings, store: Store) -> ConsoleProvider:
    return ConsoleProvider(store)


# The simulator plays Twilio's fields against it, unsigned: whoever can reach the development
# server can read its outbox anyway.
SPEC = ProviderSpec(
    name="console",
    settings=(),
    channels=("sms", "call"),
    build=build,
    signing_key=None,
    sign=unsigned,
    webhook_format="form",
    receipt=twilio.sample_receipt,
    inbound=twilio.sample_inbound,
    call_status=twilio.sample_call_status,
    answer=twilio.sample_answer,
    sends=False,
)
