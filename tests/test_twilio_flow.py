"""End to end on Twilio: the real SDK's HTTP captured with `responses`, webhooks signed with
twilio's own RequestValidator, Redis as the store."""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs

import pytest
import responses
from conftest import BASE_URL, NUMBER, TWILIO, signed_post, started, twilio_signature
from flask.testing import FlaskClient

pytestmark = pytest.mark.redis


@pytest.fixture(params=["redis", "cluster", "sentinel"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """The Twilio flow on one Redis, a Cluster and a Sentinel-watched primary."""
    return request.param


@pytest.fixture
def client(make_app, twilio_api: responses.RequestsMock) -> FlaskClient:
    return make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()


def sent(twilio_api: responses.RequestsMock, kind: str) -> list[dict[str, list[str]]]:
    return [parse_qs(c.request.body) for c in twilio_api.calls if c.request.url.endswith(f"/{kind}.json")]


def sms_code(twilio_api: responses.RequestsMock) -> str:
    return re.search(r"\b(\d{6})\b", sent(twilio_api, "Messages")[-1]["Body"][0]).group(1)


def test_sms_flow(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    v = started(client, channel="sms")
    [request] = sent(twilio_api, "Messages")
    assert request["To"] == [NUMBER] and request["From"] == [TWILIO["TWILIO_FROM"]]
    assert request["StatusCallback"] == [f"{BASE_URL}/webhooks/twilio/status/message/{v['id']}?a=0"]
    assert twilio_api.calls[0].request.headers["Authorization"].startswith("Basic ")
    code = sms_code(twilio_api)
    assert v["sends"][0]["provider_id"].startswith("SM") and v["sends"][0]["provider"] == "twilio"
    wrong = "000000" if code != "000000" else "111111"
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": wrong})
    assert (response.get_json()["valid"], response.get_json()["checks_left"]) == (False, 4)
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert (response.get_json()["valid"], response.get_json()["status"]) == (True, "approved")
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_pending"


def answer(client: FlaskClient, url: str, **extra: str) -> ET.Element:
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "From": TWILIO["TWILIO_FROM"],
              "To": NUMBER, "CallStatus": "in-progress", "Direction": "outbound-api", **extra}  # fmt: skip
    response = signed_post(client, url, params)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    return ET.fromstring(response.get_data())


def spoken_digits(element: ET.Element) -> list[str]:
    return [say.text for say in element.iter("Say") if say.text and say.text.isdigit()]


def test_call_flow_reads_the_digits_and_offers_the_menu(
    client: FlaskClient, twilio_api: responses.RequestsMock
) -> None:
    v = started(client, channel="sms")
    code = sms_code(twilio_api)
    response = client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"})
    assert response.status_code == 200, response.get_json()
    [call] = sent(twilio_api, "Calls")
    url = call["Url"][0]
    assert url == f"{BASE_URL}/webhooks/twilio/voice/{v['id']}?a=1" and code not in url
    assert call["StatusCallback"] == [f"{BASE_URL}/webhooks/twilio/status/call/{v['id']}?a=1"]
    assert call["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    twiml = answer(client, url)
    [gather] = twiml.findall("Gather")
    assert gather.get("action") == f"{BASE_URL}/webhooks/twilio/voice/{v['id']}/menu?a=1&r=0"
    assert (gather.get("numDigits"), gather.get("method")) == ("1", "POST")
    assert spoken_digits(gather) == list(code) * 2  # said twice, one digit at a time
    assert len(gather.findall("Pause")) >= 2 * len(code)
    assert "Press 1" in gather.findall("Say")[-1].text
    assert [child.tag for child in twiml][-1] == "Hangup"
    menu = gather.get("action")
    assert spoken_digits(answer(client, menu, Digits="1")) == list(code) * 2
    goodbye = answer(client, menu, Digits="7")
    assert spoken_digits(goodbye) == [] and goodbye[-1].tag == "Hangup"


def test_call_channel_from_the_start(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    v = started(client, channel="call")
    [call] = sent(twilio_api, "Calls")
    assert v["channel"] == "call" and v["sends"][0]["provider_id"].startswith("CA")
    digits = spoken_digits(answer(client, call["Url"][0]))
    assert len(digits) == 12 and digits[:6] == digits[6:]
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": "".join(digits[:6])})
    assert response.get_json()["valid"] is True
    after = answer(client, call["Url"][0])  # once approved the code is never spoken again
    assert spoken_digits(after) == []


def test_receipts_update_the_send_and_repeats_change_nothing(
    client: FlaskClient, twilio_api: responses.RequestsMock
) -> None:
    v = started(client, channel="sms")
    url = sent(twilio_api, "Messages")[0]["StatusCallback"][0]
    sid = v["sends"][0]["provider_id"]
    receipt = {"MessageSid": sid, "SmsSid": sid, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "To": NUMBER,
               "From": TWILIO["TWILIO_FROM"], "ApiVersion": "2010-04-01"}  # fmt: skip
    assert signed_post(client, url, {**receipt, "MessageStatus": "sent", "SmsStatus": "sent"}).status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "sent"
    assert signed_post(client, url, {**receipt, "MessageStatus": "delivered"}).status_code == 204
    delivered = client.get(f"/v1/verifications/{v['id']}").get_json()
    assert delivered["sends"][0]["status"] == "delivered"
    for late in ("delivered", "sent", "undelivered"):  # repeated, out of order, contradicting
        assert signed_post(client, url, {**receipt, "MessageStatus": late}).status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == delivered


def test_call_status_callbacks(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    v = started(client, channel="call")
    [call] = sent(twilio_api, "Calls")
    sid = v["sends"][0]["provider_id"]
    for status in ("initiated", "ringing", "in-progress", "completed", "ringing"):
        response = signed_post(client, call["StatusCallback"][0], {"CallSid": sid, "CallStatus": status})
        assert response.status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "completed"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, {"X-Twilio-Signature": "x" * 500}],
)
def test_unsigned_or_wrongly_signed_webhooks_are_refused(
    client: FlaskClient, twilio_api: responses.RequestsMock, headers: dict
) -> None:
    v = started(client, channel="call")
    before = client.get(f"/v1/verifications/{v['id']}").get_json()
    sid = v["sends"][0]["provider_id"]
    path = f"/webhooks/twilio/status/call/{v['id']}?a=0"
    assert client.post(path, data={"CallSid": sid, "CallStatus": "completed"}, headers=headers).status_code == 403
    assert (
        client.post(f"/webhooks/twilio/voice/{v['id']}?a=0", data={"CallSid": sid}, headers=headers).status_code == 403
    )
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == before


def test_signature_for_other_params_or_another_token_is_refused(
    client: FlaskClient, twilio_api: responses.RequestsMock
) -> None:
    v = started(client, channel="call")
    sid = v["sends"][0]["provider_id"]
    url = f"{BASE_URL}/webhooks/twilio/status/call/{v['id']}?a=0"
    tampered = twilio_signature(url, {"CallSid": sid, "CallStatus": "ringing"})
    response = client.post(url.removeprefix(BASE_URL), data={"CallSid": sid, "CallStatus": "completed"},
                           headers={"X-Twilio-Signature": tampered})  # fmt: skip
    assert response.status_code == 403
    assert signed_post(client, url, {"CallSid": sid, "CallStatus": "completed"}, token="other").status_code == 403
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "queued"


@pytest.mark.parametrize(
    ("signed_base", "more_body", "more_signed"),
    [
        # Twilio signs some requests over `https://host:443/...`: the one-HMAC fast path must not refuse them.
        (BASE_URL.replace("verify.example.com", "verify.example.com:443"), "", {}),
        # A %-escape that is not UTF-8 stays as sent (as Werkzeug decodes forms), so the signature checks.
        (BASE_URL, "&Caller=%FF", {"Caller": "%FF"}),
        # Twilio signs empty fields too, so they must reach the signature check.
        (BASE_URL, "&CallerCity=", {"CallerCity": ""}),
    ],
)
def test_a_status_signed_as_twilio_may_sign_it_is_accepted(
    client: FlaskClient, twilio_api: responses.RequestsMock, signed_base: str, more_body: str, more_signed: dict
) -> None:
    v = started(client, channel="call")
    sid = v["sends"][0]["provider_id"]
    path = f"/webhooks/twilio/status/call/{v['id']}?a=0"
    signature = twilio_signature(signed_base + path, {"CallSid": sid, "CallStatus": "ringing", **more_signed})
    response = client.post(path, data=f"CallSid={sid}&CallStatus=ringing{more_body}",
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})  # fmt: skip
    assert response.status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "ringing"


def test_twenty_concurrent_right_checks_approve_once(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    v = started(client, channel="sms")
    code = sms_code(twilio_api)
    app = client.application
    barrier = threading.Barrier(20)
    results: list[int] = []

    def check() -> None:
        with app.test_client() as own:
            barrier.wait()
            results.append(own.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).status_code)

    threads = [threading.Thread(target=check) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 19


def test_the_code_is_in_no_response_and_no_log_line(
    client: FlaskClient, twilio_api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    v = started(client, channel="auto")
    code = sms_code(twilio_api)
    sid = v["sends"][0]["provider_id"]
    receipt_url = sent(twilio_api, "Messages")[0]["StatusCallback"][0]
    bodies.append(signed_post(client, receipt_url, {"MessageSid": sid, "MessageStatus": "undelivered"}))
    [call] = sent(twilio_api, "Calls")  # the failed SMS fell back to a call
    bodies.append(signed_post(client, call["StatusCallback"][0], {"CallSid": "CA" + "2" * 32, "CallStatus": "ringing"}))
    bodies.append(client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}))
    bodies.append(client.get(f"/v1/verifications/{v['id']}"))
    assert bodies[2].get_json()["valid"] is True
    assert all(code not in b.get_data(as_text=True) for b in bodies)
    assert all(code not in url for c in twilio_api.calls for url in [c.request.url])
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) >= 5
    assert not [line for line in lines if code in line or NUMBER in line]
