"""Findings of the outside review (issue 11) at the web layer: what an unsigned or oversized
request, or a signature made for another host, must never achieve.

Plivo's replay and downgrade findings are in tests/providers/test_plivo_signatures.py; the
unsigned-webhook fuzz over every provider and route, under gunicorn too, is in tests/test_fuzz.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from conftest import BASE_CONFIG, BASE_URL, NUMBER, TWILIO, started, twilio_signature
from flask.testing import FlaskClient
from live_server import Gunicorn
from werkzeug.test import TestResponse

from app import MAX_BODY

SIGNALWIRE = {"SIGNALWIRE_PROJECT": "p", "SIGNALWIRE_TOKEN": "t", "SIGNALWIRE_SPACE": "example.signalwire.com",
              "SIGNALWIRE_FROM": "+14155550198", "SIGNALWIRE_SIGNING_KEY": "PSK_key"}  # fmt: skip
PROVIDERS = {"SMS_PROVIDER": "console,twilio,signalwire", "VOICE_PROVIDER": "console,twilio,signalwire",
             **TWILIO, **SIGNALWIRE}  # fmt: skip
RECEIPT = "/webhooks/twilio/status/message/vf_00000000AAAAAAAAAAAAAAAAAAAAAA?a=0"


@pytest.fixture
def client(make_app) -> FlaskClient:
    return make_app(**PROVIDERS).test_client()


# --- 7: unsigned requests never cause a 500 ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["?x=bodySHA256=", "?a=0&x=bodySHA256=&y=1", "?bodySHA256=", "?bodySHA256=%C2%B2", "?bodySHA256=a&bodySHA256=b"],
)
def test_signalwire_reads_body_sha256_as_a_query_parameter(client: FlaskClient, query: str) -> None:
    v = started(client)
    path = f"/webhooks/signalwire/status/message/{v['id']}{query}"
    response = client.post(path, json={"MessageSid": "x", "MessageStatus": "delivered"},
                           headers={"X-SignalWire-Signature": "bm90IGEgc2lnbmF0dXJl"})  # fmt: skip
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v


@pytest.mark.parametrize("depth", [2_000, 8_000])
def test_signalwire_checks_the_signature_before_reading_a_deep_json_body(client: FlaskClient, depth: int) -> None:
    v = started(client)
    body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    response = client.post(f"/webhooks/signalwire/status/call/{v['id']}?a=0", data=body,
                           content_type="application/json", headers={"X-SignalWire-Signature": "x"})  # fmt: skip
    assert response.status_code == 403
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v


@pytest.mark.parametrize("query", ["?a=%C2%B2", "?a=\u00b2", "?a=0&r=%C2%B2", "?a=%D9%A3"])
@pytest.mark.parametrize("kind", ["voice/{id}", "voice/{id}/menu", "status/message/{id}", "status/call/{id}"])
def test_a_non_ascii_attempt_or_repeat_number_is_no_number(client: FlaskClient, kind: str, query: str) -> None:
    """The console signs nothing, so its routes are where an unsigned query reaches the handlers."""
    v = started(client)
    fields = {"Digits": "1", "MessageSid": "x", "MessageStatus": "sent", "CallSid": "y", "CallStatus": "ringing"}
    response = client.post(f"/webhooks/console/{kind.format(id=v['id'])}{query}", data=fields)
    assert response.status_code < 500


# --- 9: with TRUST_PROXY, only PUBLIC_BASE_URL is a signature candidate -------------------------


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    ("headers", "host"),
    [({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "staging.example.com"}, "http://10.0.0.5:8000"),
     ({}, "https://staging.example.com")],
)  # fmt: skip
def test_a_signature_for_another_host_is_refused_behind_a_trusted_proxy(make_app, headers: dict, host: str) -> None:
    client = make_app(**PROVIDERS, TRUST_PROXY="1").test_client()
    v = started(client)
    path = f"/webhooks/twilio/status/message/{v['id']}?a=0"
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "failed"}

    def post(signed_for: str) -> TestResponse:
        signature = {"X-Twilio-Signature": twilio_signature(signed_for + path, params)}
        return client.post(path, data=params, headers={**headers, **signature}, base_url=host)

    assert post("https://staging.example.com").status_code == 403
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v
    assert post(BASE_URL).status_code == 204  # whatever the proxy says, our own origin is checked


# --- 18: chunked bodies over 16 KiB are refused, not truncated ----------------------------------


def padded_start(size: int) -> bytes:
    """A valid start request of exactly `size` bytes (JSON allows the trailing spaces)."""
    body = json.dumps({"to": NUMBER}).encode()
    return body + b" " * (size - len(body))


def chunked_post(client: FlaskClient, path: str, body: bytes, content_type: str) -> TestResponse:
    # What gunicorn and Werkzeug's server hand the app for a chunked request: the de-chunked stream,
    # flagged as ending on its own (the test client would otherwise send a Content-Length).
    return client.post(path, input_stream=io.BytesIO(body), content_type=content_type,
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [("/v1/verifications", padded_start(MAX_BODY + 1), "application/json"),
     ("/v1/verifications", padded_start(3 * MAX_BODY), "application/json"),
     (RECEIPT, b"MessageSid=SMx&MessageStatus=delivered&Body=" + b"9" * MAX_BODY, "application/x-www-form-urlencoded")],
    ids=["start-one-byte-over", "start-three-times-over", "receipt"],
)  # fmt: skip
def test_a_chunked_body_over_the_limit_is_refused_by_the_app(
    client: FlaskClient, path: str, body: bytes, content_type: str
) -> None:
    response = chunked_post(client, path, body, content_type)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert client.get("/dev/outbox").get_json()["sends"] == []


def test_a_chunked_body_up_to_the_limit_is_read_whole(client: FlaskClient) -> None:
    response = chunked_post(client, "/v1/verifications", padded_start(MAX_BODY), "application/json")
    assert response.status_code == 201


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    server = Gunicorn({**BASE_CONFIG, **PROVIDERS, "WEB_CONCURRENCY": "1"}, tmp_path_factory.mktemp("gunicorn"))
    yield server
    server.stop()


@pytest.mark.slow
def test_chunked_bodies_under_gunicorn(gunicorn: Gunicorn) -> None:
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    receipt = b"MessageSid=SMx&MessageStatus=delivered&Body=" + b"9" * MAX_BODY
    for target, body, headers in [
        ("/v1/verifications", padded_start(MAX_BODY + 1), json_type),
        ("/v1/verifications", padded_start(4 * MAX_BODY), json_type),
        (RECEIPT, receipt, form_type),
    ]:
        reply = gunicorn.request("POST", target, headers=headers, body=body, chunked=True)
        assert reply.status == 413, reply.body
        assert reply.json()["error"]["code"] == "payload_too_large"
    assert gunicorn.request("GET", "/dev/outbox").json()["sends"] == []
    reply = gunicorn.request("POST", "/v1/verifications", headers=json_type, body=padded_start(MAX_BODY), chunked=True)
    assert reply.status == 201, reply.body
    assert "Traceback" not in gunicorn.log_text()
