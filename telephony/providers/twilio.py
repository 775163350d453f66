"""Twilio: the official SDK for sending, its RequestValidator for webhooks."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from telephony.errors import ProviderError
from telephony.providers import http
from telephony.providers.base import (
    FormData,
    InboundSms,
    Payload,
    ProviderSpec,
    Setting,
    SignedRequest,
    StatusReport,
    WebhookRequest,
    required,
)

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

T = TypeVar("T")

# Twilio's words -> the contract's send statuses. Anything else is kept raw and changes nothing.
MESSAGE_STATUSES = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued",
    "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed", "canceled": "failed",
}  # fmt: skip
CALL_STATUSES = {
    "queued": "queued", "initiated": "queued",
    "ringing": "ringing",
    "in-progress": "answered", "answered": "answered",
    "completed": "completed", "busy": "busy", "no-answer": "no-answer",
    "failed": "failed", "canceled": "failed",
}  # fmt: skip
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def call_api(provider: str, send: Callable[[], T]) -> T:
    """Run one SDK create call, turning its failures into `ProviderError` (transient ones fail over).

    The answer must name what was created (its `sid`): an unreadable 2xx is a transient failure.
    """
    try:
        created = send()
    except requests.RequestException as exc:  # timeouts, refused connections, DNS
        raise ProviderError(provider, type(exc).__name__) from exc
    except TwilioRestException as exc:
        transient = exc.status >= 500 or exc.status in (401, 403, 429)
        raise ProviderError(provider, f"HTTP {exc.status} code {exc.code}", transient=transient) from exc
    except TwilioException as exc:
        raise ProviderError(provider, type(exc).__name__) from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # the SDK could not read a 2xx answer
        raise ProviderError(provider, f"unreadable answer ({type(exc).__name__})") from exc
    http.checked_id(getattr(created, "sid", None), provider, "sid")
    return created


def signed_form(validator: RequestValidator, url: str, form: FormData, signature: str) -> bool:
    """Whether `signature` signs this URL and form, as Twilio (and SignalWire) sign them.

    The signature over the URL exactly as received is tried first: one HMAC, the common case.
    Only when it does not match does the SDK's `validate` run, which tries the URL with and
    without its default port, because Twilio's own signing is inconsistent about ports.
    """
    expected = validator.compute_signature(url, form)
    if hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    return bool(validator.validate(url, form, signature))


def _twilio_signature(request: WebhookRequest, validator: RequestValidator, header: str) -> bool:
    signature = request.header(header)
    if not signature or len(signature) > 200:
        return False
    return signed_form(validator, request.url, request.form, signature)


class TwilioProvider:
    name = "twilio"
    dialect = "twiml"
    replies_inline = True
    signature_header = "X-Twilio-Signature"

    def __init__(
        self, account_sid: str, auth_token: str, caller: str, *, timeout: float, ttl: int, detect_machines: bool = True,
        messaging_service: str = "", api_url: str = "",
    ) -> None:  # fmt: skip
        self._detect = {"machine_detection": "Enable"} if detect_machines else {}
        transport = TwilioHttpClient(timeout=timeout)
        assert transport.session is not None  # pooled connections: the SDK's default
        http.mount(transport.session, api_url, "https://api.twilio.com")
        self._client = Client(account_sid, auth_token, http_client=transport)
        self._validator = RequestValidator(auth_token)
        self._from = caller
        # A Messaging Service picks the sender (a number of its pool, a short code, an alphanumeric
        # sender ID) per destination; calls still need TWILIO_FROM.
        self._sender = {"messaging_service_sid": messaging_service} if messaging_service else {"from_": caller}
        self._validity = max(1, min(ttl, 36000))

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        message = call_api(
            self.name,
            lambda: self._client.messages.create(
                to=to, body=body, status_callback=status_url, **self._sender,
                validity_period=self._validity,  # a late code is useless: let Twilio drop it
            ),
        )  # fmt: skip
        return str(message.sid)

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        call = call_api(
            self.name,
            lambda: self._client.calls.create(
                to=to, from_=self._from, url=answer_url, method="POST",
                status_callback=status_url, status_callback_method="POST",
                status_callback_event=CALL_EVENTS, timeout=30, time_limit=120, **self._detect,
            ),
        )  # fmt: skip
        return str(call.sid)

    def verify(self, request: WebhookRequest) -> bool:
        return _twilio_signature(request, self._validator, self.signature_header)

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        # AnsweredBy: human, unknown, machine_start, machine_end_beep, ..., fax (synchronous AMD)
        return request.form.first("AnsweredBy").startswith(("machine", "fax"))

    def message_status(self, request: WebhookRequest) -> StatusReport:
        return message_status(request.form, MESSAGE_STATUSES)

    def call_status(self, request: WebhookRequest) -> StatusReport:
        return call_status(request.form, CALL_STATUSES)

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        return inbound_sms(request.form)


# Twilio's callback fields, which SignalWire (and the console provider) post too.


def message_status(form: FormData, statuses: Mapping[str, str]) -> StatusReport:
    """A delivery receipt; `statuses` maps the provider's words to the contract's."""
    (message_id,) = required(form, "MessageSid")
    raw = form.first("MessageStatus") or form.first("SmsStatus")
    if not raw:
        raise ValueError("missing field MessageStatus")
    return StatusReport(message_id, statuses.get(raw), raw)


def call_status(form: FormData, statuses: Mapping[str, str]) -> StatusReport:
    call_id, raw = required(form, "CallSid", "CallStatus")
    return StatusReport(call_id, statuses.get(raw), raw)


def inbound_sms(form: FormData) -> InboundSms:
    message_id, sender, recipient = required(form, "MessageSid", "From", "To")
    return InboundSms(message_id, sender, recipient, form.first("Body"))


def sign_form(header: str, key: str, url: str, form: Mapping[str, str]) -> SignedRequest:
    """Headers as Twilio (or SignalWire, with its signing key) sends them, from Twilio's own helper."""
    return SignedRequest(url, {header: RequestValidator(key).compute_signature(url, dict(form))})


def sample_receipt(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"MessageSid": provider_id, "MessageStatus": status, "To": to, "From": caller, **extra}


def sample_call_status(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"CallSid": provider_id, "CallStatus": status, "To": to, "From": caller, **extra}


def sample_answer(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"CallSid": provider_id, "AccountSid": "AC-or-project", "From": caller, "To": to, "CallStatus": status,
            "Direction": "outbound-api", **extra}  # fmt: skip


def sample_inbound(body: str, *, sender: str, caller: str) -> Payload:
    return {"MessageSid": str(uuid.uuid4()), "From": sender, "To": caller, "Body": body, "NumMedia": "0"}


def _refuse_messaging_service(value: str) -> None:
    if value.startswith("MG"):
        raise ValueError("holds a Messaging Service SID: set TWILIO_MESSAGING_SERVICE_SID to it instead")


def _messaging_service_sid(value: str) -> None:
    if not re.fullmatch(r"MG[0-9a-f]{32}", value):
        raise ValueError(f"must be MG followed by 32 hex digits (got {value!r})")


def build(settings: Settings, store: Store) -> TwilioProvider:
    c = settings.credential
    return TwilioProvider(
        c("TWILIO_ACCOUNT_SID"), c("TWILIO_AUTH_TOKEN"), c("TWILIO_FROM"),
        timeout=settings.provider_timeout, ttl=settings.otp_ttl,
        detect_machines=settings.hang_up_on_machines,
        messaging_service=c("TWILIO_MESSAGING_SERVICE_SID"), api_url=c("TWILIO_API_URL"),
    )  # fmt: skip


SPEC = ProviderSpec(
    name="twilio",
    settings=(
        Setting("TWILIO_ACCOUNT_SID"),
        Setting("TWILIO_AUTH_TOKEN"),
        # An MG… SID or an alphanumeric sender can neither place the call nor receive STOP, so SMS
        # through a Messaging Service is a setting of its own.
        Setting(
            "TWILIO_FROM", caller=True, sms_alternative="TWILIO_MESSAGING_SERVICE_SID", check=_refuse_messaging_service
        ),
        Setting("TWILIO_MESSAGING_SERVICE_SID", required=False, check=_messaging_service_sid),
        Setting("TWILIO_API_URL", required=False, check=http.api_url_check),
    ),
    channels=("sms", "call"),
    build=build,
    signing_key="TWILIO_AUTH_TOKEN",
    sign=lambda key, url, form: sign_form(TwilioProvider.signature_header, key, url, form),
    webhook_format="form",
    receipt=sample_receipt,
    inbound=sample_inbound,
    call_status=sample_call_status,
    answer=sample_answer,
)
