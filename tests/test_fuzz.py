"""Hostile input: hypothesis throws bodies, headers and fields at the API and every webhook.

Whatever arrives, the answer is never a 500, a refused request changes nothing, and a webhook
without a valid signature never reaches a parser. Unsigned webhooks are thrown at gunicorn as
well, whose log must stay free of tracebacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from conftest import BASE_CONFIG, BASE_URL, TWILIO, signed_post
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from live_server import Gunicorn

from app import create_app
from telephony.store import MemoryStore

NUMBER = "+14155550100"
PROVIDERS = ["twilio", "plivo", "signalwire", "flowroute", "console"]
CREDENTIALS = {
    **TWILIO,
    "PLIVO_AUTH_ID": "MA" + "X" * 18, "PLIVO_AUTH_TOKEN": "plivo-token", "PLIVO_FROM": "+14155550199",
    "SIGNALWIRE_PROJECT": "p", "SIGNALWIRE_TOKEN": "t", "SIGNALWIRE_SPACE": "example.signalwire.com",
    "SIGNALWIRE_FROM": "+14155550198", "SIGNALWIRE_SIGNING_KEY": "PSK_key",
    "FLOWROUTE_ACCESS_KEY": "a", "FLOWROUTE_SECRET_KEY": "b", "FLOWROUTE_FROM": "+12065550100",
    "FLOWROUTE_WEBHOOK_SECRET": "hook-secret",
}  # fmt: skip
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "\x00", "\u202e", "+14155550100\n", "9" * 5000, "<Say>", "{{ 7*7 }}", "'; DROP", "%00", "../../etc"]
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


FUZZ_CONFIG = {**BASE_CONFIG, "SMS_PROVIDER": "console,twilio,plivo,signalwire,flowroute",
               "VOICE_PROVIDER": "console,twilio,plivo,signalwire", "OTP_LIMIT_NUMBER": "off", "OTP_LIMIT_IP": "off",
               "OTP_LIMIT_PREFIX": "off", "OTP_LIMIT_COUNTRY": "off", **CREDENTIALS}  # fmt: skip


@pytest.fixture(scope="module")
def app():
    return create_app(FUZZ_CONFIG, store=MemoryStore())


@pytest.fixture(scope="module")
def verification(app) -> dict:
    return app.test_client().post("/v1/verifications", json={"to": NUMBER}).get_json()


def snapshot(app, vid: str) -> dict:
    return app.test_client().get(f"/v1/verifications/{vid}").get_json()


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/v1/verifications",
            "/v1/verifications/{id}/check",
            "/v1/verification-checks",
            "/v1/verifications/{id}/resend",
            "/v1/verifications/{id}/cancel",
        ]
    ),
    body=json_value | st.binary(max_size=200),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)
def test_api_never_fails_and_refusals_change_nothing(app, verification, path, body, content_type) -> None:
    before = snapshot(app, verification["id"])
    data = body if isinstance(body, bytes) else json.dumps(body)
    response = app.test_client().post(path.format(id=verification["id"]), data=data, content_type=content_type)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.get_json()["error"]) == {"code", "message"}
        assert snapshot(app, verification["id"]) == before


DEEP_JSON = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"  # past the parser's recursion limit
FIELD_NAMES = ["CallSid", "MessageSid", "MessageStatus", "CallStatus", "From", "To", "Body", "Digits", "MessageUUID",
               "Status", "CallUUID", "Text", "AnsweredBy", "Machine"]  # fmt: skip
SIGNATURE_HEADERS = ["X-Twilio-Signature", "X-SignalWire-Signature", "X-Plivo-Signature-V3", "X-Plivo-Signature-V3-Nonce",
                     "X-Plivo-Signature-V2", "X-Plivo-Signature-V2-Nonce"]  # fmt: skip
QUERIES = [
    "", "?a=0", "?a=-1", "?a=99999999", "?a=x&r=9&g=1", "?key=nope", "?key=hook-secret",
    "?a=%C2%B2", "?a=\u00b2", "?a=0&r=%C2%B2", "?a=0&r=\u00b2&g=", "?a=%D9%A3", "?x=bodySHA256=", "?bodySHA256=",
    "?a=0&bodySHA256=" + "0" * 64, "?bodySHA256=%C2%B2&bodySHA256=1", "?a=%0Aevent=verification.approved",
    "?key=hook-secret&a=%C2%B2", "?a=0&key=hook-secret&key=hook-secret",
]  # fmt: skip


class Served:
    """The fuzz app as the test client sees it, or the same settings served by gunicorn."""

    def __init__(self, app=None, server: Gunicorn | None = None) -> None:
        self.app, self.server = app, server
        # A number of its own: the module's `verification` fixture may already have started one for
        # NUMBER on the same app, and a second start would be a resend (429 within the cooldown).
        self.verification = self.send("POST", "/v1/verifications", {"Content-Type": "application/json"},
                                      json.dumps({"to": "+14155550177"}).encode())[1]  # fmt: skip

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict | None]:
        """The status and the JSON answer (None when there is none)."""
        if self.server is not None:
            reply = self.server.request(method, path.encode(), headers=headers, body=body)  # raw, as a client may
            return reply.status, json.loads(reply.body) if reply.body.startswith(b"{") else None
        response = self.app.test_client().open(path, method=method, headers=headers, data=body)
        return response.status_code, response.get_json(silent=True)

    def snapshot(self) -> dict | None:
        return self.send("GET", f"/v1/verifications/{self.verification['id']}", {}, b"")[1]

    def tracebacks(self) -> list[str]:
        text = self.server.log_text() if self.server is not None else ""
        return [line for line in text.splitlines() if "Traceback" in line or "event=request.error" in line]


@pytest.fixture(scope="module", params=["test client", pytest.param("gunicorn", marks=pytest.mark.slow)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if request.param == "test client":
        yield Served(request.getfixturevalue("app"))
        return
    server = Gunicorn({**FUZZ_CONFIG, "WEB_CONCURRENCY": "1"}, tmp_path_factory.mktemp("gunicorn"))
    try:
        yield Served(server=server)
    finally:
        server.stop()


form = st.dictionaries(st.sampled_from(FIELD_NAMES) | text, text, max_size=6).filter(
    lambda fields: sum(len(k) + len(v) for k, v in fields.items()) < 12_000  # 16 KiB and over: below
)


@FUZZ
@given(
    provider=st.sampled_from(PROVIDERS),
    kind=st.sampled_from(["voice/{id}", "voice/{id}/menu", "status/message/{id}", "status/call/{id}", "sms"]),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    body=form.map(lambda fields: urlencode(fields).encode())
    | json_value.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | st.just(DEEP_JSON),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "application/vnd.api+json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    headers=st.dictionaries(
        st.sampled_from(SIGNATURE_HEADERS),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300),
        max_size=4,
    ),
    query=st.sampled_from(QUERIES),
)
@example(
    provider="signalwire",
    kind="status/call/{id}",
    method="POST",
    body=DEEP_JSON,
    content_type="application/json",
    headers={"X-SignalWire-Signature": "x"},
    query="?a=0",
)
@example(
    provider="signalwire",
    kind="status/message/{id}",
    method="POST",
    body=b"{}",
    content_type="application/json",
    headers={"X-SignalWire-Signature": "x"},
    query="?x=bodySHA256=",
)
@example(provider="console", kind="voice/{id}", method="POST", body=b"", content_type="", headers={},
         query="?a=\u00b2")  # fmt: skip
def test_unsigned_webhooks_are_refused_and_change_nothing(
    served: Served, provider, kind, method, body, content_type, headers, query
) -> None:
    """Every provider, every route, the test client and gunicorn: a 4xx, never a 5xx or a traceback.

    The console signs nothing (development only), so its routes must merely never fail; a request
    carrying Flowroute's right key is signed.
    """
    before = served.snapshot()
    path = f"/webhooks/{provider}/{kind.format(id=served.verification['id'])}{query}"
    status, answer = served.send(method, path, {**headers, "Content-Type": content_type}, body)
    assert status < 500 and served.tracebacks() == []
    if status >= 400 and answer is None:  # gunicorn's own refusal (raw non-ASCII in the request line)
        assert served.server is not None and status == 400
    elif status >= 400:
        assert set(answer["error"]) == {"code", "message"}
    keyed = provider == "flowroute" and "key=hook-secret" in query
    if provider != "console" and not keyed:
        assert 400 <= status < 500
        if method == "POST" and not content_type.startswith("multipart/") and answer is not None:
            assert status == 403
        assert served.snapshot() == before


@pytest.mark.parametrize("provider", PROVIDERS[:3])
def test_an_oversized_unsigned_webhook_is_refused_and_changes_nothing(app, verification, provider) -> None:
    before = snapshot(app, verification["id"])
    path = f"/webhooks/{provider}/status/message/{verification['id']}?a=0"
    response = app.test_client().post(path, data={"MessageStatus": "delivered", "Body": "9" * 17_000})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert snapshot(app, verification["id"]) == before


@FUZZ
@given(
    kind=st.sampled_from(["voice/{id}", "voice/{id}/menu", "status/message/{id}", "status/call/{id}", "sms"]),
    form=st.dictionaries(
        st.sampled_from(
            [
                "CallSid",
                "MessageSid",
                "MessageStatus",
                "CallStatus",
                "From",
                "To",
                "Body",
                "Digits",
                "AnsweredBy",
                "SmsStatus",
            ]
        )
        | text,
        text,
        max_size=6,
    ),
    query=st.sampled_from(["", "?a=0", "?a=1", "?a=-1", "?a=99999", "?a=0&r=2", "?a=0&g=1", "?a=0&r=abc"]),
)
def test_signed_twilio_webhooks_with_any_fields_never_fail(app, verification, kind, form, query) -> None:
    url = f"{BASE_URL}/webhooks/twilio/{kind.format(id=verification['id'])}{query}"
    response = signed_post(app.test_client(), url, form)
    assert response.status_code < 500


@FUZZ
@given(
    provider=st.sampled_from(PROVIDERS),
    parser=st.sampled_from(["message_status", "call_status", "inbound_sms", "answered_by_machine"]),
    form=st.dictionaries(
        st.sampled_from(
            [
                "CallSid",
                "MessageSid",
                "MessageStatus",
                "CallStatus",
                "From",
                "To",
                "Body",
                "MessageUUID",
                "Status",
                "CallUUID",
                "Text",
                "HangupCause",
                "RequestUUID",
                "AnsweredBy",
                "Machine",
            ]
        )
        | text,
        st.lists(text, min_size=1, max_size=2),
        max_size=6,
    ),
    body=json_value.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=100),
)
def test_every_parser_answers_or_refuses_with_value_error(app, provider, parser, form, body) -> None:
    from telephony.providers import FormData, WebhookRequest

    adapter = app.extensions["verification"].providers[provider]
    request = WebhookRequest(f"{BASE_URL}/webhooks/{provider}/x", "POST", {}, FormData(form), body)
    try:
        result = getattr(adapter, parser)(request)
    except ValueError:
        return
    if parser == "answered_by_machine":
        assert isinstance(result, bool)
    elif parser == "inbound_sms":
        assert result.message_id and isinstance(result.body, str)
    else:
        assert result.provider_id and (result.status is None or isinstance(result.status, str))


@FUZZ
@given(
    body=st.lists(
        st.sampled_from(
            [b"a", b"b", b"=", b"&", b"%", b"FF", b"%C3%A9", b"+", b"\xff", b"\xc3\xa9", b";", b"%2", b" "]
        ),
        max_size=12,
    ).map(b"".join)
)
def test_carrier_forms_are_read_as_werkzeug_reads_them(app, body: bytes) -> None:
    """The one-step form parser must see the fields Werkzeug's would: signatures are checked over them."""
    from telephony.providers import FormData
    from webhooks.carrier import _posted

    with app.test_request_context("/", method="POST", data=body, content_type="application/x-www-form-urlencoded"):
        from flask import request

        assert _posted() == (body, FormData(request.form.lists()))
