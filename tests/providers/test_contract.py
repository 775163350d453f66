"""One contract for every provider: the exact request each SDK or client sends, then the whole
flow through the Flask app with webhooks signed by the provider's own helper."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from carriers import (
    CALLER,
    ENDPOINTS,
    FLOWROUTE,
    NUMBER,
    PLIVO,
    SIGNALWIRE,
    TEXT_FIELD,
    CarrierApi,
    answer_params,
    basic,
    call_status,
    carrier_api,
    code_in,
    config,
    inbound,
    menu_action,
    post,
    receipt,
    signed_headers,
    spoken,
)
from conftest import BASE_URL, TWILIO
from flask.testing import FlaskClient

from telephony.providers import FormData, WebhookRequest
from telephony.wording import sms_body

SMS = ["console", "twilio", "plivo", "signalwire", "flowroute"]
VOICE = ["console", "twilio", "plivo", "signalwire"]
SIGNED = ["twilio", "plivo", "signalwire", "flowroute"]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


@pytest.fixture
def client(request: pytest.FixtureRequest, make_app, api: CarrierApi) -> FlaskClient:
    return make_app(**config(request.param)).test_client()


def start(client: FlaskClient, channel: str = "sms") -> dict:
    response = client.post("/v1/verifications", json={"to": NUMBER, "channel": channel})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client: FlaskClient, vid: str) -> dict:
    return client.get(f"/v1/verifications/{vid}").get_json()


def last_sms_text(client: FlaskClient, api: CarrierApi, provider: str) -> str:
    if provider == "console":
        return client.get("/dev/outbox").get_json()["sends"][0]["body"]
    return api.sent(provider, "sms")[-1][TEXT_FIELD[provider]]


def last_answer_url(client: FlaskClient, api: CarrierApi, provider: str) -> str:
    if provider == "console":
        return client.get("/dev/outbox").get_json()["sends"][0]["answer_url"]
    return api.sent(provider, "call")[-1]["answer_url" if provider == "plivo" else "Url"]


def status_url(provider: str, kind: str, vid: str, attempt: int) -> str:
    return f"{BASE_URL}/webhooks/{provider}/status/{kind}/{vid}?a={attempt}"


def decoded(provider: str, body: bytes | str) -> Any:
    text = body.decode() if isinstance(body, bytes) else body
    if provider in ("twilio", "signalwire"):
        return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(text).items()}
    return json.loads(text)


@pytest.mark.parametrize("client", ["twilio", "plivo", "signalwire", "flowroute"], indirect=True)
def test_the_sms_request_is_exactly_the_providers(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.sms_providers[0]
    v = start(client)
    [request] = api.requests(provider, "sms")
    text = last_sms_text(client, api, provider)
    assert text == sms_body("en", brand="Verify", code=code_in(text), ttl=600)
    status = status_url(provider, "message", v["id"], 0)
    expected = {
        "twilio": (basic(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]), FORM,
                   {"To": NUMBER, "From": TWILIO["TWILIO_FROM"], "Body": text, "StatusCallback": status,
                    "ValidityPeriod": "600"}),
        "plivo": (basic(PLIVO["PLIVO_AUTH_ID"], PLIVO["PLIVO_AUTH_TOKEN"]), "application/json",
                  {"src": PLIVO["PLIVO_FROM"], "dst": NUMBER, "text": text, "type": "sms", "url": status,
                   "method": "POST", "log": "false", "trackable": False}),
        "signalwire": (basic(SIGNALWIRE["SIGNALWIRE_PROJECT"], SIGNALWIRE["SIGNALWIRE_TOKEN"]), FORM,
                       {"To": NUMBER, "From": SIGNALWIRE["SIGNALWIRE_FROM"], "Body": text, "StatusCallback": status,
                        "ValidityPeriod": "600"}),
        "flowroute": (basic(FLOWROUTE["FLOWROUTE_ACCESS_KEY"], FLOWROUTE["FLOWROUTE_SECRET_KEY"]),
                      "application/vnd.api+json",
                      {"data": {"type": "message", "attributes": {
                          "to": "14155550100", "from": "12065550100", "body": text,
                          "dlr_callback": f"{status}&key={FLOWROUTE['FLOWROUTE_WEBHOOK_SECRET']}"}}}),
    }[provider]  # fmt: skip
    assert (request.method, request.url) == ("POST", ENDPOINTS[(provider, "sms")])
    assert (request.headers["Authorization"], request.headers["Content-Type"]) == expected[:2]
    assert decoded(provider, request.body) == expected[2]
    assert v["sends"][0]["provider"] == provider and v["sends"][0]["provider_id"]


@pytest.mark.parametrize("client", ["twilio", "plivo", "signalwire"], indirect=True)
def test_the_call_request_is_exactly_the_providers(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.voice_providers[0]
    v = start(client, "call")
    [request] = api.requests(provider, "call")
    answer = f"{BASE_URL}/webhooks/{provider}/voice/{v['id']}?a=0"
    status = status_url(provider, "call", v["id"], 0)
    events = ["initiated", "ringing", "answered", "completed"]
    expected = {
        "twilio": (basic(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]), FORM,
                   {"To": NUMBER, "From": TWILIO["TWILIO_FROM"], "Url": answer, "Method": "POST",
                    "StatusCallback": status, "StatusCallbackMethod": "POST", "StatusCallbackEvent": events,
                    "Timeout": "30", "TimeLimit": "120", "MachineDetection": "Enable"}),
        "plivo": (basic(PLIVO["PLIVO_AUTH_ID"], PLIVO["PLIVO_AUTH_TOKEN"]), "application/json",
                  {"from": "14155550199", "to": "14155550100", "answer_url": answer, "answer_method": "POST",
                   "hangup_url": status, "hangup_method": "POST", "ring_method": "POST", "fallback_method": "POST",
                   "ring_timeout": 30, "time_limit": 120, "machine_detection_time": 5000,
                   "machine_detection": "hangup", "machine_detection_method": "POST",
                   "error_if_parent_not_found": False}),
        "signalwire": (basic(SIGNALWIRE["SIGNALWIRE_PROJECT"], SIGNALWIRE["SIGNALWIRE_TOKEN"]), FORM,
                       {"To": NUMBER, "From": SIGNALWIRE["SIGNALWIRE_FROM"], "Url": answer, "Method": "POST",
                        "StatusCallback": status, "StatusCallbackMethod": "POST", "StatusCallbackEvent": events,
                        "Timeout": "30", "MachineDetection": "Enable"}),
    }[provider]  # fmt: skip
    assert (request.method, request.url) == ("POST", ENDPOINTS[(provider, "call")])
    assert (request.headers["Authorization"], request.headers["Content-Type"]) == expected[:2]
    assert decoded(provider, request.body) == expected[2]
    assert v["sends"][0]["provider_id"] and v["channel"] == "call"


def answer(client: FlaskClient, provider: str, url: str, call_id: str, **extra: str) -> ET.Element:
    response = post(client, provider, url, answer_params(provider, call_id, **extra))
    assert response.status_code == 200 and response.mimetype == "text/xml", response.get_data(as_text=True)
    return ET.fromstring(response.get_data())


@pytest.mark.parametrize("client", VOICE, indirect=True)
def test_the_answer_url_reads_the_code_and_offers_the_menu(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.voice_providers[0]
    v = start(client)
    code = code_in(last_sms_text(client, api, provider))
    assert client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"}).status_code == 200
    url = last_answer_url(client, api, provider)
    assert url == f"{BASE_URL}/webhooks/{provider}/voice/{v['id']}?a=1"
    call_id = get(client, v["id"])["sends"][1]["provider_id"]
    markup = answer(client, provider, url, call_id)
    assert spoken(markup) == list(code) * 2  # one digit at a time, twice
    assert menu_action(markup).startswith(f"{BASE_URL}/webhooks/{provider}/voice/{v['id']}/menu?a=1&")
    assert markup[-1].tag == "Hangup"
    assert spoken(answer(client, provider, menu_action(markup), call_id, Digits="1")) == list(code) * 2
    goodbye = answer(client, provider, menu_action(markup), call_id, Digits="9")
    assert spoken(goodbye) == [] and goodbye[-1].tag == "Hangup"
    assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).get_json()["valid"] is True


@pytest.mark.parametrize("client", SIGNED, indirect=True)
def test_a_tampered_signature_is_refused_and_changes_nothing(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.sms_providers[0]
    v = start(client)
    message_id = v["sends"][0]["provider_id"]
    url = status_url(provider, "message", v["id"], 0)
    for wrong in ("not-the-secret", ""):
        assert post(client, provider, url, receipt(provider, message_id, "delivered"), key=wrong).status_code == 403
    assert client.post(url.removeprefix(BASE_URL), data={"MessageSid": message_id}).status_code == 403
    if provider != "flowroute":
        answer_url = f"{BASE_URL}/webhooks/{provider}/voice/{v['id']}?a=0"
        params = answer_params(provider, "any")
        assert post(client, provider, answer_url, params, key="not-the-secret").status_code == 403
        tampered = client.post(answer_url.removeprefix(BASE_URL), data={**params, "To": "15550001111"},
                               headers=signed_headers(provider, answer_url, params))  # fmt: skip
        assert tampered.status_code == 403
    assert get(client, v["id"]) == v


@pytest.mark.parametrize("client", SMS, indirect=True)
def test_signed_receipts_update_the_send_status(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.sms_providers[0]
    v = start(client)
    message_id = v["sends"][0]["provider_id"]
    url = status_url(provider, "message", v["id"], 0)
    assert post(client, provider, url, receipt(provider, message_id, "a-word-nobody-uses")).status_code in (200, 204)
    assert get(client, v["id"])["sends"][0]["status"] == "queued"  # kept raw, changes nothing visible
    assert post(client, provider, url, receipt(provider, message_id, "sent")).status_code in (200, 204)
    assert get(client, v["id"])["sends"][0]["status"] == "sent"
    assert post(client, provider, url, receipt(provider, message_id, "delivered")).status_code in (200, 204)
    delivered = get(client, v["id"])
    assert delivered["sends"][0]["status"] == "delivered"
    for late in ("delivered", "undelivered"):  # repeated and contradicting
        assert post(client, provider, url, receipt(provider, message_id, late)).status_code in (200, 204)
    assert get(client, v["id"]) == delivered


@pytest.mark.parametrize("client", VOICE, indirect=True)
def test_signed_call_status_updates_the_send(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.voice_providers[0]
    v = start(client, "call")
    call_id = v["sends"][0]["provider_id"]
    url = status_url(provider, "call", v["id"], 0)
    for word in ("ringing", "in-progress", "completed", "ringing"):
        assert post(client, provider, url, call_status(provider, call_id, word)).status_code in (200, 204)
    after = get(client, v["id"])
    assert (after["sends"][0]["status"], after["sends"][0]["provider_id"]) == ("completed", call_id)


@pytest.mark.parametrize("client", SMS, indirect=True)
def test_inbound_sms_is_accepted_and_parsed(client: FlaskClient, api: CarrierApi) -> None:
    provider = client.application.extensions["verification"].settings.sms_providers[0]
    message = inbound(provider, "HELP")
    assert post(client, provider, f"{BASE_URL}/webhooks/{provider}/sms", message).status_code in (200, 204)
    adapter = client.application.extensions["verification"].providers[provider]
    if provider == "flowroute":
        webhook = WebhookRequest(url="x", method="POST", headers={}, body=json.dumps(message).encode())
    else:
        webhook = WebhookRequest(
            url="x", method="POST", headers={}, form=FormData({k: [v] for k, v in message.items()})
        )
    parsed = adapter.inbound_sms(webhook)
    assert (parsed.from_number, parsed.to_number, parsed.body) == (NUMBER, CALLER[provider], "HELP")
    assert parsed.message_id
