"""Faults: Redis going away and coming back, Redis restarts with AOF, proxies in front of us."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from conftest import BASE_CONFIG, BASE_URL, TWILIO, RedisServer, signed_post, twilio_signature
from flask.testing import FlaskClient

from app import create_app

NUMBER = "+14155550100"
pytestmark = pytest.mark.redis


def sent(twilio_api: responses.RequestsMock) -> list[dict]:
    return [parse_qs(c.request.body) for c in twilio_api.calls]


def code_in(fields: dict) -> str:
    return re.search(r"\b(\d{6})\b", fields["Body"][0]).group(1)


def test_redis_outage_answers_503_sends_nothing_and_recovers(
    redis_server: RedisServer, redis_url: str, twilio_api: responses.RequestsMock
) -> None:
    client = create_app({**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO}).test_client()
    v = client.post("/v1/verifications", json={"to": NUMBER}).get_json()
    code = code_in(sent(twilio_api)[0])
    receipt_url = sent(twilio_api)[0]["StatusCallback"][0]
    redis_server.stop()
    try:
        answers = [
            client.post("/v1/verifications", json={"to": "+14155550101"}),
            client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}),
            client.post("/v1/verification-checks", json={"to": NUMBER, "code": code}),
            client.get(f"/v1/verifications/{v['id']}"),
            client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"}),
            client.post(f"/v1/verifications/{v['id']}/cancel"),
        ]
        for response in answers:
            assert response.status_code == 503
            assert response.get_json()["error"]["code"] == "store_unavailable"
        webhook = signed_post(
            client, receipt_url, {"MessageSid": v["sends"][0]["provider_id"], "MessageStatus": "delivered"}
        )
        assert webhook.status_code == 503  # so that Twilio retries
        assert len(sent(twilio_api)) == 1  # nothing was sent while the store was away
    finally:
        redis_server.start()
    # A Redis without persistence lost the verification; the service itself is healthy again.
    fresh = client.post("/v1/verifications", json={"to": NUMBER})
    assert fresh.status_code == 201
    check = client.post(
        f"/v1/verifications/{fresh.get_json()['id']}/check", json={"code": code_in(sent(twilio_api)[-1])}
    )
    assert check.get_json()["valid"] is True


def test_pending_verification_survives_a_redis_restart_with_aof(
    tmp_path: Path, twilio_api: responses.RequestsMock
) -> None:
    server = RedisServer(tmp_path)
    server.start("--appendonly", "yes", "--appendfsync", "always")
    try:
        config = {**BASE_CONFIG, "REDIS_URL": server.url, "OTP_PROVIDER": "twilio", **TWILIO}
        client = create_app(config).test_client()
        v = client.post("/v1/verifications", json={"to": NUMBER}).get_json()
        wrong = client.post(
            f"/v1/verifications/{v['id']}/check",
            json={"code": "000000" if code_in(sent(twilio_api)[0]) != "000000" else "111111"},
        )
        assert wrong.get_json()["checks_left"] == 4
        server.stop()
        server.start("--appendonly", "yes", "--appendfsync", "always")
        after = client.get(f"/v1/verifications/{v['id']}")
        assert after.status_code == 200
        assert (after.get_json()["status"], after.get_json()["checks_left"]) == ("pending", 4)
        check = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code_in(sent(twilio_api)[0])})
        assert check.get_json()["valid"] is True
    finally:
        server.stop()


# --- behind a proxy ---------------------------------------------------------------------------


@pytest.fixture(params=["memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def proxied(make_app, trust: str, **settings: str) -> FlaskClient:
    return make_app(OTP_PROVIDER="twilio", TRUST_PROXY=trust, **TWILIO, **settings).test_client()


def receipt(client: FlaskClient, url: str, signed_for: str, **headers: str):
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    headers["X-Twilio-Signature"] = twilio_signature(signed_for, params)
    return client.post(url.removeprefix(BASE_URL), data=params, headers=headers, base_url="http://10.0.0.5:8000")


def test_signatures_behind_a_proxy(make_app, twilio_api, caplog: pytest.LogCaptureFixture) -> None:
    path = "/webhooks/twilio/status/message/vf_00000000AAAAAAAAAAAAAAAAAAAAAA?a=0"
    public = BASE_URL + path
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.net"}
    trusting = proxied(make_app, "1")
    assert receipt(trusting, public, public, **forwarded).status_code == 204
    assert receipt(trusting, public, "https://sms.example.net" + path, **forwarded).status_code == 403  # issue 11, 9
    plain = proxied(make_app, "0")
    assert receipt(plain, public, public, **forwarded).status_code == 204  # PUBLIC_BASE_URL always works
    caplog.clear()
    assert receipt(plain, public, "https://sms.example.net" + path, **forwarded).status_code == 403
    assert receipt(trusting, public, "http://10.0.0.5:8000" + path, **forwarded).status_code == 403
    lines = [r.getMessage() for r in caplog.records if "signature_invalid" in r.getMessage()]
    assert len(lines) == 2
    assert all(f'urls="{public}" ' in line + " " for line in lines)  # the one URL tried (quoted: it holds `=`)
    assert "sms.example.net" not in lines[1] and "signature_headers=X-Twilio-Signature" in lines[1]
    assert all(TWILIO["TWILIO_AUTH_TOKEN"] not in line for line in lines)


def test_flowroute_secret_is_redacted_from_the_failure_log(make_app, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(SMS_PROVIDER="flowroute", VOICE_PROVIDER="console", FLOWROUTE_ACCESS_KEY="a",
                      FLOWROUTE_SECRET_KEY="b", FLOWROUTE_FROM="+12065550100",
                      FLOWROUTE_WEBHOOK_SECRET="the-real-secret").test_client()  # fmt: skip
    response = client.post("/webhooks/flowroute/sms?key=a-guessed-secret", json={"data": {}})
    assert response.status_code == 403
    line = next(r.getMessage() for r in caplog.records if "signature_invalid" in r.getMessage())
    assert "key=<redacted>" in line and "a-guessed-secret" not in line and "the-real-secret" not in line


def test_per_ip_limits_use_the_forwarded_address_only_behind_a_trusted_proxy(make_app, twilio_api) -> None:
    def start(client: FlaskClient, to: str, ip: str):
        return client.post("/v1/verifications", json={"to": to}, headers={"X-Forwarded-For": ip}).status_code

    trusting = proxied(make_app, "1", OTP_LIMIT_IP="1/600")
    assert [start(trusting, "+14155550100", "203.0.113.1"), start(trusting, "+14155550200", "203.0.113.2")] == [
        201,
        201,
    ]
    assert start(trusting, "+14155550300", "203.0.113.1") == 429
    plain = proxied(make_app, "0", OTP_LIMIT_IP="1/600")
    assert [start(plain, "+14155550100", "203.0.113.1"), start(plain, "+14155550200", "203.0.113.2")] == [201, 429]


def test_no_log_line_holds_a_secret_or_a_code(make_app, twilio_api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = proxied(make_app, "0")
    client.post("/v1/verifications", json={"to": NUMBER})
    code = code_in(sent(twilio_api)[0])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in text and NUMBER not in text and TWILIO["TWILIO_AUTH_TOKEN"] not in text


def test_health_and_readiness(redis_server: RedisServer, redis_url: str) -> None:
    client = create_app({**BASE_CONFIG, "REDIS_URL": redis_url}).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    redis_server.stop()
    try:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["store"] == "unreachable"
    finally:
        redis_server.start()
    assert client.get("/readyz").status_code == 200
