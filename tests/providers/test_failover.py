"""Failover across real adapters: the first provider fails at the HTTP layer, the next carries the send."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from carriers import NUMBER, TEXT_FIELD, CarrierApi, carrier_api, code_in, config
from flask.testing import FlaskClient

TIMEOUT = requests.exceptions.ConnectTimeout("connect timed out")


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


def start(client: FlaskClient, channel: str = "sms") -> tuple[int, dict]:
    response = client.post("/v1/verifications", json={"to": NUMBER, "channel": channel})
    return response.status_code, response.get_json()


@pytest.mark.parametrize(("first", "failure"), [("plivo", 500), ("signalwire", TIMEOUT), ("flowroute", 503),
                                                 ("plivo", TIMEOUT), ("signalwire", 500)])  # fmt: skip
def test_the_second_sms_provider_carries_the_send(make_app, api: CarrierApi, first: str, failure: object) -> None:
    client = make_app(**config(first, "twilio")).test_client()
    api.down[first] = failure
    status, v = start(client)
    assert status == 201, v
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [(first, "failed"), ("twilio", "queued")]
    assert v["sends"][0]["provider_id"] is None and v["sends"][1]["provider_id"].startswith("SM")
    assert v["sends_left"] == 4 and v["status"] == "pending"  # one send, two attempts
    tried, carried = api.sent(first, "sms"), api.sent("twilio", "sms")
    assert code_in(tried[0][TEXT_FIELD[first]]) == code_in(carried[0]["Body"])
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v


def test_the_second_voice_provider_carries_the_call(make_app, api: CarrierApi) -> None:
    client = make_app(**config("plivo", "signalwire")).test_client()
    api.down["plivo"] = 500
    status, v = start(client, "call")
    assert status == 201, v
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [("plivo", "failed"), ("signalwire", "queued")]
    assert len(api.requests("plivo", "call")) == 3 and len(api.requests("signalwire", "call")) == 1
    [call] = api.sent("signalwire", "call")
    assert call["Url"].endswith(f"/webhooks/signalwire/voice/{v['id']}?a=1")


def test_a_refused_request_does_not_fail_over(make_app, api: CarrierApi) -> None:
    client = make_app(**config("plivo", "twilio")).test_client()
    api.down["plivo"] = 400  # a bad number or body: every provider would refuse it
    status, body = start(client)
    assert (status, body["error"]["code"]) == (502, "provider_error")
    assert api.requests("twilio", "sms") == []


def test_when_every_provider_fails_nothing_is_lost_and_a_resend_carries_the_same_code(
    make_app, api: CarrierApi
) -> None:
    client = make_app(**config("plivo", "signalwire")).test_client()
    api.down.update(plivo=500, signalwire=TIMEOUT)
    status, body = start(client)
    assert (status, body["error"]["code"]) == (502, "provider_error")
    [tried] = api.sent("plivo", "sms")
    vid = tried["url"].split("/status/message/")[1].split("?")[0]  # the 502 names no id; the callback URL does
    code = code_in(tried["text"])
    assert code_in(api.sent("signalwire", "sms")[0]["Body"]) == code
    v = client.get(f"/v1/verifications/{vid}").get_json()
    assert v["status"] == "pending" and v["sends_left"] == 4
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [("plivo", "failed"), ("signalwire", "failed")]
    api.down.clear()  # the providers recover
    response = client.post(f"/v1/verifications/{vid}/resend", json={})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert [(s["provider"], s["status"]) for s in after["sends"]][-1] == ("plivo", "queued")
    assert after["sends_left"] == 3 and code_in(api.sent("plivo", "sms")[-1]["text"]) == code
    assert client.post(f"/v1/verifications/{vid}/check", json={"code": code}).get_json()["valid"] is True


def test_auto_falls_back_from_a_failed_flowroute_sms_to_a_plivo_call(make_app, api: CarrierApi) -> None:
    client = make_app(**config("flowroute", "plivo", SMS_PROVIDER="flowroute")).test_client()
    api.down["flowroute"] = 500
    status, v = start(client, "auto")
    assert status == 201, v
    assert [(s["provider"], s["channel"], s["status"]) for s in v["sends"]] == [
        ("flowroute", "sms", "failed"), ("plivo", "call", "queued")]  # fmt: skip
    assert v["sends_left"] == 3
