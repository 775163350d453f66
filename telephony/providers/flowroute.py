"""Flowroute (SMS only): its v2.1 messaging API over `requests`; JSON webhooks guarded by a URL secret.

Flowroute signs nothing, so every callback URL we hand it (and the inbound SMS URL configured in
its portal) carries FLOWROUTE_WEBHOOK_SECRET as the `key` query parameter.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from telephony.errors import ProviderError
from telephony.providers import http
from telephony.providers.base import (
    InboundSms,
    Payload,
    ProviderSpec,
    Setting,
    SignedRequest,
    StatusReport,
    WebhookRequest,
    number_or_raw,
)

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

API = "https://api.flowroute.com/v2.1/messages"
JSON_API = "application/vnd.api+json"

# Flowroute's DLR words -> the contract's send statuses. Its full table is unpublished, so words
# not listed here that still say failure count as failed; anything else is kept raw.
MESSAGE_STATUSES = {
    "queued": "queued", "accepted": "queued",
    "sent": "sent", "buffered": "sent", "message buffered": "sent", "smsc submit": "sent",
    "delivered": "delivered", "delivery success": "delivered",
    "undelivered": "undelivered",
    "failed": "failed", "rejected": "failed", "expired": "failed",
}  # fmt: skip
FAILURE_WORDS = ("fail", "reject", "undeliv", "expired")


def message_status_of(raw: str, level: object = None) -> str | None:
    """The contract's status for a DLR `status` word at DLR `level` (1: handed to the carrier)."""
    word = raw.strip().lower()
    status = MESSAGE_STATUSES.get(word)
    if status is None and any(part in word for part in FAILURE_WORDS):
        status = "failed"
    if status == "delivered" and str(level) == "1":
        status = "sent"  # level 1 only reached the carrier; a `delivered` there must not hide a later failure
    return status


def _digits(e164: str) -> str:
    # v2.1 wants NANP numbers as 11 digits and others as E.164 digits: both are E.164 without the `+`.
    return e164.strip().lstrip("+")


def _payload(request: WebhookRequest) -> tuple[str, dict[str, Any]]:
    """`data.id` and `data.attributes` of a JSON:API callback (or of the flat legacy v2 body)."""
    try:
        document = json.loads(request.body or b"null")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
        raise ValueError("body is not JSON") from None
    data = document.get("data", document) if isinstance(document, dict) else None
    attributes = data.get("attributes", data) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(attributes, dict):
        raise ValueError("missing field data.attributes")
    message_id = data.get("id")
    if not message_id or not isinstance(message_id, str):
        raise ValueError("missing field data.id")
    return message_id, attributes


class FlowrouteProvider:
    name = "flowroute"
    dialect = "twiml"  # Flowroute reads no reply markup; its inbound webhook wants any 200
    replies_inline = False  # inbound SMS replies go out through the API

    def __init__(self, access_key: str, secret_key: str, caller: str, webhook_secret: str, *, timeout: float) -> None:
        self._session = requests.Session()
        http.mount(self._session, "", API)
        self._session.auth = (access_key, secret_key)
        self._session.headers.update({"Content-Type": JSON_API, "Accept": JSON_API})
        self._timeout = timeout
        self._from = _digits(caller)
        self._secret = webhook_secret

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        attributes = {"to": _digits(to), "from": self._from, "body": body}
        if status_url:  # replies to inbound keywords need no receipt
            separator = "&" if "?" in status_url else "?"
            attributes["dlr_callback"] = f"{status_url}{separator}{urlencode({'key': self._secret})}"
        document = json.dumps({"data": {"type": "message", "attributes": attributes}})
        response = http.post(self._session, self.name, API, data=document, timeout=self._timeout)
        return http.created_id(response, self.name, lambda body: body["data"]["id"], "data.id")

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        raise ProviderError(self.name, "Flowroute cannot place calls", transient=False)

    def verify(self, request: WebhookRequest) -> bool:
        keys = parse_qs(urlsplit(request.url).query, keep_blank_values=True).get("key", [])
        return len(keys) == 1 and hmac.compare_digest(keys[0].encode(), self._secret.encode())

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        return False  # no calls, so no answer requests

    def message_status(self, request: WebhookRequest) -> StatusReport:
        message_id, attributes = _payload(request)
        raw, level = str(attributes.get("status") or ""), attributes.get("level")
        if not raw:
            raise ValueError("missing field data.attributes.status")
        return StatusReport(message_id, message_status_of(raw, level), raw)

    def call_status(self, request: WebhookRequest) -> StatusReport:
        raise ValueError("Flowroute places no calls")

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        message_id, attributes = _payload(request)
        sender, recipient = attributes.get("from"), attributes.get("to")
        if not sender or not recipient:
            raise ValueError("missing field data.attributes.from")
        return InboundSms(
            message_id, number_or_raw(str(sender)), number_or_raw(str(recipient)), str(attributes.get("body") or "")
        )


def sign(key: str, url: str, form: Mapping[str, str]) -> SignedRequest:
    """Flowroute signs nothing: the secret rides in the URL, as in every callback URL we give it."""
    return SignedRequest(f"{url}{'&' if '?' in url else '?'}key={key}", {})


def sample_receipt(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    attributes = {"body": "(the text)", "level": 2, "status": status, "status_code": "0",
                  "status_code_description": status, "timestamp": "2026-11-26T15:30:05Z", **extra}  # fmt: skip
    return {"data": {"type": "delivery_receipt", "id": provider_id, "attributes": attributes,
                     "links": {"related": f"{API}/{provider_id}"}}}  # fmt: skip


def sample_inbound(body: str, *, sender: str, caller: str) -> Payload:
    attributes = {"to": caller.lstrip("+"), "from": sender.lstrip("+"), "body": body, "direction": "inbound",
                  "is_mms": False, "status": "delivered", "timestamp": "2026-11-26T15:30:00Z"}  # fmt: skip
    return {"data": {"type": "message", "id": f"mdr2-{uuid.uuid4().hex}", "attributes": attributes}}


def build(settings: Settings, store: Store) -> FlowrouteProvider:
    c = settings.credential
    return FlowrouteProvider(
        c("FLOWROUTE_ACCESS_KEY"), c("FLOWROUTE_SECRET_KEY"), c("FLOWROUTE_FROM"),
        c("FLOWROUTE_WEBHOOK_SECRET"), timeout=settings.provider_timeout,
    )  # fmt: skip


SPEC = ProviderSpec(
    name="flowroute",
    settings=(
        Setting("FLOWROUTE_ACCESS_KEY"),
        Setting("FLOWROUTE_SECRET_KEY"),
        Setting("FLOWROUTE_FROM", caller=True),
        Setting("FLOWROUTE_WEBHOOK_SECRET"),
    ),
    channels=("sms",),
    build=build,
    signing_key="FLOWROUTE_WEBHOOK_SECRET",
    sign=sign,
    webhook_format="json",
    receipt=sample_receipt,
    inbound=sample_inbound,
)
