"""SignalWire: its Compatibility (LaML) REST API over `requests`, TwiML markup, Twilio-style signatures.

The `signalwire` package is not used: its 2.x line pins twilio==6.54.0 and aiohttp==3.9.5 exactly,
which would drag Twilio back to a 2021 SDK and ship an aiohttp with published advisories.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import requests
from twilio.request_validator import RequestValidator

from telephony.providers import http, twilio
from telephony.providers.base import FormData, InboundSms, ProviderSpec, Setting, StatusReport, WebhookRequest

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

# Twilio's words plus SignalWire's `initiated` for messages -> the contract's send statuses.
MESSAGE_STATUSES = {**twilio.MESSAGE_STATUSES, "initiated": "queued"}
CALL_STATUSES = dict(twilio.CALL_STATUSES)
# SignalWire's own validators accept Twilio's header name as an alias.
SIGNATURE_HEADERS = ("X-SignalWire-Signature", "X-Twilio-Signature")


def _fields(request: WebhookRequest) -> FormData:
    """The callback's fields: form-encoded as documented, or a flat JSON object (its OpenAPI says so)."""
    if request.form or not request.body.lstrip().startswith(b"{"):
        return request.form
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: no fields
        return request.form
    if not isinstance(data, dict):
        return request.form
    return FormData({k: [str(v)] for k, v in data.items() if isinstance(v, str | int | float)})


class SignalWireProvider:
    name = "signalwire"
    dialect = "twiml"
    replies_inline = True

    def __init__(
        self, project: str, token: str, space: str, caller: str, signing_key: str, *, timeout: float, ttl: int,
        detect_machines: bool = True,
    ) -> None:  # fmt: skip
        host = space.strip().removeprefix("https://").rstrip("/")
        self._api = f"https://{host}/api/laml/2010-04-01/Accounts/{project}"
        self._session = requests.Session()
        http.mount(self._session, "", f"https://{host}")
        self._session.auth = (project, token)
        self._session.headers["Accept"] = "application/json"
        self._timeout = timeout
        self._validator = RequestValidator(signing_key)
        self._from = caller
        self._validity = str(max(1, min(ttl, 172800)))
        # Synchronous detection, as Twilio's: the answer request then says who picked up (AnsweredBy).
        self._detect = [("MachineDetection", "Enable")] if detect_machines else []

    def _create(self, resource: str, fields: list[tuple[str, str]]) -> str:
        response = http.post(
            self._session, self.name, f"{self._api}/{resource}.json", data=fields, timeout=self._timeout
        )
        return http.created_id(response, self.name, lambda body: body.get("sid"), "sid")

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        return self._create(
            "Messages",
            [("To", to), ("From", self._from), ("Body", body),
             ("ValidityPeriod", self._validity),  # a late code is useless: let SignalWire drop it
             *([("StatusCallback", status_url)] if status_url else [])],
        )  # fmt: skip

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        events = [("StatusCallbackEvent", event) for event in twilio.CALL_EVENTS]
        return self._create(
            "Calls",
            [("To", to), ("From", self._from), ("Url", answer_url), ("Method", "POST"),
             ("StatusCallback", status_url), ("StatusCallbackMethod", "POST"), *events, ("Timeout", "30"),
             *self._detect],
        )  # fmt: skip

    def verify(self, request: WebhookRequest) -> bool:
        signature = next((s for s in (request.header(h) for h in SIGNATURE_HEADERS) if s), "")
        if not signature or len(signature) > 200:
            return False
        hashes = parse_qs(urlsplit(request.url).query, keep_blank_values=True).get("bodySHA256")
        if hashes is not None:  # the URL signs the body's hash, and the body is read only once it matches
            digest = hashlib.sha256(request.body).hexdigest().encode()
            return (
                len(hashes) == 1
                and hmac.compare_digest(digest, hashes[0].encode())
                and twilio.signed_form(self._validator, request.url, FormData(), signature)
            )
        # Form fields, or a flat JSON object signed as if it were a form: it must be read to be
        # checked, so only once a signature of the right shape is there.
        return twilio.signed_form(self._validator, request.url, _fields(request), signature)

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        # AnsweredBy: human or machine (SignalWire), Twilio's machine_* and fax spellings too.
        return _fields(request).first("AnsweredBy").lower().startswith(("machine", "fax"))

    def message_status(self, request: WebhookRequest) -> StatusReport:
        return twilio.message_status(_fields(request), MESSAGE_STATUSES)

    def call_status(self, request: WebhookRequest) -> StatusReport:
        return twilio.call_status(_fields(request), CALL_STATUSES)

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        return twilio.inbound_sms(_fields(request))


def build(settings: Settings, store: Store) -> SignalWireProvider:
    c = settings.credential
    return SignalWireProvider(
        c("SIGNALWIRE_PROJECT"), c("SIGNALWIRE_TOKEN"), c("SIGNALWIRE_SPACE"), c("SIGNALWIRE_FROM"),
        c("SIGNALWIRE_SIGNING_KEY"), timeout=settings.provider_timeout, ttl=settings.otp_ttl,
        detect_machines=settings.hang_up_on_machines,
    )  # fmt: skip


# Its callbacks carry Twilio's fields, so the samples are Twilio's too.
SPEC = ProviderSpec(
    name="signalwire",
    settings=(
        Setting("SIGNALWIRE_PROJECT"),
        Setting("SIGNALWIRE_TOKEN"),
        Setting("SIGNALWIRE_SPACE"),
        Setting("SIGNALWIRE_FROM", caller=True),
        Setting("SIGNALWIRE_SIGNING_KEY"),
    ),
    channels=("sms", "call"),
    build=build,
    signing_key="SIGNALWIRE_SIGNING_KEY",
    sign=lambda key, url, form: twilio.sign_form(SIGNATURE_HEADERS[0], key, url, form),
    webhook_format="form",
    receipt=twilio.sample_receipt,
    inbound=twilio.sample_inbound,
    call_status=twilio.sample_call_status,
    answer=twilio.sample_answer,
)
