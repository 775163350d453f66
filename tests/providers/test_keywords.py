"""Inbound keywords on every provider, and SMS-to-call fallback driven by each provider's receipts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from carriers import NUMBER, CarrierApi, carrier_api, config, inbound, post, receipt
from conftest import BASE_URL
from flask.testing import FlaskClient

SMS = ["twilio", "plivo", "signalwire", "flowroute"]
_ids = iter(range(1, 1_000_000))


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


@pytest.fixture
def client(request: pytest.FixtureRequest, make_app, api: CarrierApi) -> FlaskClient:
    return make_app(**config(request.param, OTP_RESEND_COOLDOWN="0")).test_client()


def provider_of(client: FlaskClient) -> str:
    return client.application.extensions["verification"].settings.sms_providers[0]


def say(client: FlaskClient, api: CarrierApi, body: str) -> str | None:
    """Send an inbound SMS as the provider would; the reply as the user would read it."""
    provider = provider_of(client)
    message = inbound(provider, body)
    if provider == "plivo":
        message["MessageUUID"] = f"in-{next(_ids)}"
    elif provider == "flowroute":
        message["data"]["id"] = f"mdr2-in-{next(_ids)}"
    else:
        message["MessageSid"] = f"SMin{next(_ids)}"
    before = len(api.sent(provider, "sms"))
    response = post(client, provider, f"{BASE_URL}/webhooks/{provider}/sms", message)
    assert response.status_code == 200
    if provider == "flowroute":  # no reply markup: the reply goes out through the API
        assert response.get_data() == b""
        replies = api.sent(provider, "sms")[before:]
        return replies[-1]["body"] if replies else None
    messages = ET.fromstring(response.get_data()).findall("Message")
    return messages[0].text if messages else None


def start(client: FlaskClient, channel: str = "sms") -> dict:
    return client.post("/v1/verifications", json={"to": NUMBER, "channel": channel})


@pytest.mark.parametrize("client", SMS, indirect=True)
def test_stop_then_start(client: FlaskClient, api: CarrierApi) -> None:
    assert "no longer receive" in say(client, api, " stop ")
    refused = start(client)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "opted_out"
    assert "again" in say(client, api, "Start")
    assert start(client).status_code == 201


@pytest.mark.parametrize("client", SMS, indirect=True)
def test_help_and_other_words(client: FlaskClient, api: CarrierApi) -> None:
    assert "Reply CALL" in say(client, api, "HELP")
    assert say(client, api, "what is this") is None


@pytest.mark.parametrize("client", SMS, indirect=True)
def test_call_and_resend(client: FlaskClient, api: CarrierApi) -> None:
    assert "no code waiting" in say(client, api, "CALL")
    v = start(client).get_json()
    sms_before = len(api.sent(provider_of(client), "sms"))
    assert "on its way" in say(client, api, "resend")
    codes = [m for m in api.sent(provider_of(client), "sms") if "verification code" in str(m)]
    assert len(codes) == 2
    assert len(api.sent(provider_of(client), "sms")) >= sms_before + 1
    assert "calling you" in say(client, api, "CALL")
    after = client.get(f"/v1/verifications/{v['id']}").get_json()
    assert [s["channel"] for s in after["sends"]] == ["sms", "sms", "call"]


@pytest.mark.parametrize("client", ["twilio", "plivo", "signalwire", "flowroute"], indirect=True)
def test_undelivered_receipt_falls_back_to_a_call(client: FlaskClient, api: CarrierApi) -> None:
    provider = provider_of(client)
    v = start(client, "auto").get_json()
    url = f"{BASE_URL}/webhooks/{provider}/status/message/{v['id']}?a=0"
    message_id = v["sends"][0]["provider_id"]
    for _ in range(2):
        assert post(client, provider, url, receipt(provider, message_id, "undelivered")).status_code in (200, 204)
    after = client.get(f"/v1/verifications/{v['id']}").get_json()
    assert [(s["channel"], s["status"]) for s in after["sends"]] == [("sms", "undelivered"), ("call", "queued")]
    voice = client.application.extensions["verification"].settings.voice_providers[0]
    if voice != "console":
        assert len(api.sent(voice, "call")) == 1
