"""Each provider as the tests see it: its credentials, its HTTP API under `responses` (the real SDK
or client builds every request), how it signs webhooks (with the provider's own helpers) and what
its callbacks carry.

A helper module, not a conftest: a second conftest.py would shadow `from conftest import ...`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import responses
from conftest import BASE_URL, TWILIO, TWILIO_API
from flask.testing import FlaskClient
from requests import PreparedRequest
from werkzeug.test import TestResponse

from telephony.providers import SPECS
from telephony.providers.base import Sample, SignedRequest

NUMBER = "+14155550100"
PLIVO = {"PLIVO_AUTH_ID": "MA" + "X" * 18, "PLIVO_AUTH_TOKEN": "plivo-test-auth-token", "PLIVO_FROM": "+14155550199"}
SIGNALWIRE = {
    "SIGNALWIRE_PROJECT": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
    "SIGNALWIRE_TOKEN": "PT-signalwire-api-token",
    "SIGNALWIRE_SPACE": "example.signalwire.com",
    "SIGNALWIRE_FROM": "+14155550198",
    "SIGNALWIRE_SIGNING_KEY": "PSK_V3bF8oyeRNpJWGoRWHNYQMUU",
}
FLOWROUTE = {
    "FLOWROUTE_ACCESS_KEY": "12345678",
    "FLOWROUTE_SECRET_KEY": "flowroute-secret-key",
    "FLOWROUTE_FROM": "+12065550100",
    "FLOWROUTE_WEBHOOK_SECRET": "flowroute-webhook-secret",
}
CREDENTIALS = {"console": {}, "twilio": TWILIO, "plivo": PLIVO, "signalwire": SIGNALWIRE, "flowroute": FLOWROUTE}
PLIVO_API = f"https://api.plivo.com/v1/Account/{PLIVO['PLIVO_AUTH_ID']}"
SIGNALWIRE_API = f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{SIGNALWIRE['SIGNALWIRE_PROJECT']}"
FLOWROUTE_API = "https://api.flowroute.com/v2.1/messages"
ENDPOINTS = {  # (provider, kind) -> URL
    ("twilio", "sms"): f"{TWILIO_API}/Messages.json", ("twilio", "call"): f"{TWILIO_API}/Calls.json",
    ("plivo", "sms"): f"{PLIVO_API}/Message/", ("plivo", "call"): f"{PLIVO_API}/Call/",
    ("signalwire", "sms"): f"{SIGNALWIRE_API}/Messages.json", ("signalwire", "call"): f"{SIGNALWIRE_API}/Calls.json",
    ("flowroute", "sms"): FLOWROUTE_API,
}  # fmt: skip


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def config(*names: str, **extra: str) -> dict[str, str]:
    """Settings for `make_app`: `names` in failover order for SMS (and for calls, bar Flowroute)."""
    merged = {k: v for name in names for k, v in CREDENTIALS[name].items()}
    voice = [name for name in names if name != "flowroute"] or ["console"]  # config refuses Flowroute calls
    return {"SMS_PROVIDER": ",".join(names), "VOICE_PROVIDER": ",".join(voice), **merged, **extra}


class CarrierApi:
    """Every provider's REST API at the HTTP layer; `down[provider]` makes one fail (a status or an exception)."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.down: dict[str, int | Exception] = {}
        self._ids = itertools.count(1)
        for (provider, kind), url in ENDPOINTS.items():
            mock.add_callback(responses.POST, url, callback=self._reply(provider, kind))

    def _reply(self, provider: str, kind: str) -> Callable:
        def reply(request: PreparedRequest) -> tuple[int, dict, str] | Exception:
            failure = self.down.get(provider)
            if isinstance(failure, Exception):
                return failure
            if failure:
                return failure, {"Content-Type": "application/json"}, '{"error": "unavailable", "code": 20500}'
            n = next(self._ids)
            bodies = {
                "twilio": (201, {"sid": f"{'SM' if kind == 'sms' else 'CA'}{n:032x}", "status": "queued"}),
                "signalwire": (201, {"sid": str(uuid.UUID(int=n)), "status": "queued"}),
                "plivo": (202, {"api_id": str(uuid.uuid4()), "message": "message(s) queued",
                                "message_uuid": [str(uuid.UUID(int=n))]})
                if kind == "sms" else (201, {"api_id": str(uuid.uuid4()), "message": "call fired",
                                             "request_uuid": str(uuid.UUID(int=n))}),
                "flowroute": (202, {"data": {"type": "message", "id": f"mdr2-{n:032x}"}}),
            }  # fmt: skip
            status, body = bodies[provider]
            return status, {"Content-Type": "application/json"}, json.dumps(body)

        return reply

    def requests(self, provider: str, kind: str) -> list[PreparedRequest]:
        return [c.request for c in self.mock.calls if c.request.url == ENDPOINTS[(provider, kind)]]

    def sent(self, provider: str, kind: str) -> list[dict[str, Any]]:
        """The fields of each request, decoded the way that provider encodes them."""
        return [fields(provider, request) for request in self.requests(provider, kind)]


def fields(provider: str, request: PreparedRequest) -> dict[str, Any]:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    if provider in ("twilio", "signalwire"):
        return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(body).items()}
    document = json.loads(body)
    return document["data"]["attributes"] if provider == "flowroute" else document


def carrier_api() -> Iterator[CarrierApi]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield CarrierApi(mock)


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


TEXT_FIELD = {"twilio": "Body", "signalwire": "Body", "plivo": "text", "flowroute": "body"}
CALLER = {"twilio": TWILIO["TWILIO_FROM"], "plivo": PLIVO["PLIVO_FROM"], "signalwire": SIGNALWIRE["SIGNALWIRE_FROM"],
          "flowroute": FLOWROUTE["FLOWROUTE_FROM"], "console": "+15005550006"}  # fmt: skip


def answer_params(provider: str, call_id: str, **extra: str) -> dict[str, str]:
    """What the provider posts to an answer URL (or, with Digits, to the keypad action)."""
    return _call_sample(provider, "answer")(call_id, "in-progress", to=NUMBER, caller=CALLER[provider], **extra)


def receipt(provider: str, message_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """A delivery receipt for `message_id` saying `status` in the provider's own words (Flowroute: `level=1`)."""
    return SPECS[provider].receipt(message_id, status, to=NUMBER, caller=CALLER[provider], **extra)


def call_status(provider: str, call_id: str, status: str) -> dict[str, str]:
    """A call status (Twilio-like) or hangup (Plivo) callback for the call we know as `call_id`."""
    return _call_sample(provider, "call_status")(call_id, status, to=NUMBER, caller=CALLER[provider])


def inbound(provider: str, body: str, sender: str = NUMBER) -> dict[str, Any]:
    """An SMS from `sender` to our number, as the provider posts it."""
    return SPECS[provider].inbound(body, sender=sender, caller=CALLER[provider])


def _call_sample(provider: str, kind: str) -> Sample:
    sample: Sample | None = getattr(SPECS[provider], kind)
    assert sample is not None, f"{provider} places no calls"
    return sample


def spoken(markup: ET.Element) -> list[str]:
    """Every digit said on its own, in order (TwiML <Say> or Plivo <Speak>)."""
    said = [e.text.strip() for e in markup.iter() if e.tag in ("Say", "Speak") and e.text]
    return [text for text in said if text.isdigit()]


def menu_action(markup: ET.Element) -> str:
    [prompt] = [e for e in markup if e.tag in ("Gather", "GetInput")]
    return prompt.get("action")


_nonces = itertools.count(10**19)


def _signed(provider: str, url: str, params: dict[str, Any], key: str | None) -> SignedRequest:
    spec = SPECS[provider]
    if key is None:
        key = CREDENTIALS[provider].get(spec.signing_key or "", "")
    return spec.sign(key, url, {} if spec.webhook_format == "json" else params)


def signed_headers(provider: str, url: str, params: dict[str, str], *, key: str | None = None) -> dict[str, str]:
    """The headers `provider` would send with a POST of `params` to `url`, signed by its own helper."""
    return _signed(provider, url, params, key).headers


def plivo_v2_headers(url: str, token: str = PLIVO["PLIVO_AUTH_TOKEN"]) -> dict[str, str]:
    """Plivo's messaging signature: HMAC-SHA256 of the URL without its query, then the nonce."""
    nonce = str(next(_nonces))
    digest = hmac.new(token.encode(), (url.split("?")[0] + nonce).encode(), hashlib.sha256).digest()
    return {"X-Plivo-Signature-V2": base64.b64encode(digest).decode(), "X-Plivo-Signature-V2-Nonce": nonce}


def post(
    client: FlaskClient, provider: str, url: str, params: dict[str, Any], *, key: str | None = None
) -> TestResponse:
    """POST a webhook to the absolute `url` as `provider` would, signed (`key` signs with another secret)."""
    signed = _signed(provider, url, params, key)
    path = signed.url.removeprefix(BASE_URL)
    if SPECS[provider].webhook_format == "json":
        return client.post(
            path, data=json.dumps(params), headers=signed.headers, content_type="application/vnd.api+json"
        )
    return client.post(path, data=params, headers=signed.headers)
