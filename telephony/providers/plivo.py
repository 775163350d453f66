"""Plivo: the official SDK for sending; V3 signatures for webhooks (V2 alone only on messaging callbacks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import plivo
import requests
from plivo import exceptions
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature

from telephony.errors import ConfigError, ProviderError
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
    required,
)

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

# Plivo's words -> the contract's send statuses. Anything else is kept raw and changes nothing.
MESSAGE_STATUSES = {
    "queued": "queued", "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "rejected": "failed",
}  # fmt: skip
CALL_STATUSES = {  # CallStatus words, then HangupCause ones for a hangup that carries no CallStatus
    "ringing": "ringing", "in-progress": "answered", "completed": "completed", "busy": "busy",
    "no-answer": "no-answer", "timeout": "no-answer", "failed": "failed", "cancel": "failed",
    "NORMAL_CLEARING": "completed", "USER_BUSY": "busy", "NO_ANSWER": "no-answer", "NO_USER_RESPONSE": "no-answer",
}  # fmt: skip
NONCE_SCOPE = "plivo-nonce"  # one store scope for every nonce, V2 and V3 alike: they name no verification
NONCE_TTL = 30 * 86400  # the contract's 30 days: far past any verification or carrier retry
# Plivo signs only messaging callbacks with V2 alone; V2 binds neither body nor query, so every
# other webhook (voice, and any the route did not name) must carry V3.
V2_KINDS = ("message_status", "inbound_sms")
NONCE_HEADERS = ("X-Plivo-Signature-V3-Nonce", "X-Plivo-Signature-V2-Nonce")


def call_api(send: Callable[[], Any]) -> Any:
    """Run one SDK call, its failures as `ProviderError` (by type only: Plivo's messages quote numbers)."""
    try:
        return send()
    except requests.RequestException as exc:  # timeouts, refused connections, DNS
        raise ProviderError("plivo", type(exc).__name__) from exc
    except (exceptions.ValidationError, exceptions.ResourceNotFoundError, exceptions.InvalidRequestError) as exc:
        raise ProviderError("plivo", type(exc).__name__, transient=False) from exc  # another try fails the same
    except exceptions.PlivoRestError as exc:  # 401, 403, 429, 5xx: another provider may well carry it
        raise ProviderError("plivo", type(exc).__name__) from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # the SDK could not read a 2xx answer
        raise ProviderError("plivo", f"unreadable answer ({type(exc).__name__})") from exc


class PlivoProvider:
    name = "plivo"
    dialect = "plivo"
    replies_inline = True

    def __init__(
        self, auth_id: str, auth_token: str, caller: str, store: Store, *, timeout: float,
        detect_machines: bool = True, api_url: str = "",
    ) -> None:  # fmt: skip
        self._credentials = (auth_id, auth_token)
        self._api_url = api_url
        self._timeout = timeout
        self._store = store
        # Plivo's detection runs beside the answer URL, not before it: `hangup` ends the call when
        # a machine is heard, which only OTP_VOICE_PRESS_KEY's gate makes airtight.
        self._detect = {"machine_detection": "hangup"} if detect_machines else {}
        self._local = threading.local()
        try:
            self._local.client = self._new_client()
        except exceptions.AuthenticationError:
            raise ConfigError("PLIVO_AUTH_ID", "must be 20 characters starting with MA or SA") from None
        self._token = auth_token
        self._from = caller

    def _new_client(self) -> plivo.RestClient:
        client = plivo.RestClient(*self._credentials, timeout=self._timeout)
        http.mount(client.session, self._api_url, "https://api.plivo.com")
        return client

    def _client(self) -> plivo.RestClient:
        # One client per thread: the SDK keeps per-request state (base URI, voice retry count) on it.
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        client.voice_retry_count = 0  # the SDK leaves it raised after a failed call, skipping its retries
        return client

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        response = call_api(
            lambda: self._client().messages.create(
                src=self._from, dst=to, text=body, url=status_url, method="POST",
                log="false",  # keeps the code out of Plivo's message logs
            ),
        )  # fmt: skip
        uuids = getattr(response, "message_uuid", None)
        first = uuids[0] if isinstance(uuids, list) and uuids else None  # one per part of a long text
        return http.checked_id(first, self.name, "message_uuid")

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        response = call_api(
            lambda: self._client().calls.create(
                from_=self._from.lstrip("+"), to_=to.lstrip("+"),
                answer_url=answer_url, answer_method="POST",
                hangup_url=status_url, hangup_method="POST",  # unset, Plivo would POST hangups to answer_url
                ring_timeout=30, time_limit=120, **self._detect,
            ),
        )  # fmt: skip
        return http.checked_id(getattr(response, "request_uuid", None), self.name, "request_uuid")

    def verify(self, request: WebhookRequest) -> bool:
        v3 = _signature(request, "V3")
        if v3 is not None:  # whenever V3 is sent it decides: dropping it must not leave the weaker V2
            valid = v3_signature_valid(request, *v3, self._token)
        elif request.kind in V2_KINDS and (v2 := _signature(request, "V2")) is not None:
            signature, nonce = v2
            valid = v2_signature_valid(request.url, nonce, signature, self._token)
        else:
            return False
        return valid and self._first_use(request)

    def _first_use(self, request: WebhookRequest) -> bool:
        """Uses up every nonce the request carries: a captured request replayed with only some of
        its headers (its V2 pair alone, say) finds its nonce already spent."""
        nonces = [n for n in dict.fromkeys(request.header(h) for h in NONCE_HEADERS) if n]
        if any(len(nonce) > 100 for nonce in nonces):  # a store key per nonce: no room for a made-up essay
            return False
        return all(self._store.first_seen(NONCE_SCOPE, nonce, ttl=NONCE_TTL) for nonce in nonces)

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        # Plivo reports detection in its own callback; an answer request carrying `Machine` is believed.
        return request.form.first("Machine").lower() == "true"

    def message_status(self, request: WebhookRequest) -> StatusReport:
        message_id, raw = required(request.form, "MessageUUID", "Status")
        return StatusReport(message_id, MESSAGE_STATUSES.get(raw), raw)

    def call_status(self, request: WebhookRequest) -> StatusReport:
        form = request.form
        (call_uuid,) = required(form, "CallUUID")
        if not (raw := form.first("CallStatus") or form.first("HangupCause")):
            raise ValueError("missing field CallStatus")
        # We stored the request_uuid the create call returned; callbacks name it RequestUUID/ALegRequestUUID.
        call_id = form.first("RequestUUID") or form.first("ALegRequestUUID") or call_uuid
        return StatusReport(call_id, CALL_STATUSES.get(raw), raw)

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        message_id, sender, recipient = required(request.form, "MessageUUID", "From", "To")
        return InboundSms(message_id, number_or_raw(sender), number_or_raw(recipient), request.form.first("Text"))


def _signature(request: WebhookRequest, version: str) -> tuple[str, str] | None:
    """(signature, nonce) when either header of `version` is present; both empty or too long fail later."""
    signature = request.header(f"X-Plivo-Signature-{version}")
    nonce = request.header(f"X-Plivo-Signature-{version}-Nonce")
    if not signature and not nonce:
        return None
    return signature, nonce


def v3_signature_valid(request: WebhookRequest, signature: str, nonce: str, token: str) -> bool:
    """Plivo's voice signature (body and query included), through its SDK."""
    if not signature or not nonce or len(signature) > 1000 or len(nonce) > 100:  # the header may list several
        return False
    try:
        return bool(validate_v3_signature(request.method, request.url, nonce, token, signature, dict(request.form)))
    except (exceptions.PlivoRestError, ValueError, TypeError):  # the SDK's own argument checks
        return False


def v2_signature_valid(url: str, nonce: str, signature: str, token: str) -> bool:
    """Plivo's messaging signature, as `plivo.utils.validate_signature` but compared in constant time."""
    if not signature or not nonce or len(signature) > 1000 or len(nonce) > 100:
        return False
    parts = urlsplit(url)
    signed = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + nonce  # the query is not signed
    expected = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


def sign(key: str, url: str, form: Mapping[str, str]) -> SignedRequest:
    """V3 headers, as Plivo sends with every webhook, from its SDK's own helpers."""
    nonce = secrets.token_hex(10)
    signature = get_signature_v3(key.encode(), construct_post_url(url, dict(form)).decode(), nonce.encode())
    return SignedRequest(url, {"X-Plivo-Signature-V3": signature.decode(), "X-Plivo-Signature-V3-Nonce": nonce})


# Plivo posts numbers without their `+`, and names the call both by its leg and by our request id.
_sequences = itertools.count(1)  # each receipt is a callback of its own, never a retry of another


def _leg(request_uuid: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, request_uuid))


def sample_receipt(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"MessageUUID": provider_id, "Status": status, "To": to.lstrip("+"), "Type": "sms",
            "From": caller.lstrip("+"), "Units": "1", "Sequence": str(next(_sequences)), **extra}  # fmt: skip


def sample_call_status(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"CallUUID": _leg(provider_id), "RequestUUID": provider_id, "ALegRequestUUID": provider_id,
            "CallStatus": status, "From": caller.lstrip("+"), "To": to.lstrip("+"), "Direction": "outbound",
            "Event": "Hangup", "HangupCause": "NORMAL_CLEARING", "Duration": "21", **extra}  # fmt: skip


def sample_answer(provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload:
    return {"CallUUID": _leg(provider_id), "From": caller.lstrip("+"), "To": to.lstrip("+"), "CallStatus": status,
            "Direction": "outbound", "ALegUUID": _leg(provider_id), "ALegRequestUUID": provider_id,
            "Event": "StartApp", **extra}  # fmt: skip


def sample_inbound(body: str, *, sender: str, caller: str) -> Payload:
    return {"From": sender.lstrip("+"), "To": caller.lstrip("+"), "Type": "sms", "Text": body,
            "MessageUUID": str(uuid.uuid4()), "Units": "1"}  # fmt: skip


def build(settings: Settings, store: Store) -> PlivoProvider:
    c = settings.credential
    return PlivoProvider(
        c("PLIVO_AUTH_ID"), c("PLIVO_AUTH_TOKEN"), c("PLIVO_FROM"), store,
        timeout=settings.provider_timeout,
        detect_machines=settings.hang_up_on_machines, api_url=c("PLIVO_API_URL"),
    )  # fmt: skip


SPEC = ProviderSpec(
    name="plivo",
    settings=(
        Setting("PLIVO_AUTH_ID"), Setting("PLIVO_AUTH_TOKEN"), Setting("PLIVO_FROM", caller=True),
        Setting("PLIVO_API_URL", required=False, check=http.api_url_check),
    ),
    channels=("sms", "call"),
    build=build,
    signing_key="PLIVO_AUTH_TOKEN",
    sign=sign,
    webhook_format="form",
    receipt=sample_receipt,
    inbound=sample_inbound,
    call_status=sample_call_status,
    answer=sample_answer,
)
