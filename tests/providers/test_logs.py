"""A whole flow on each provider, every log line captured: none holds the code or the full number."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from carriers import (
    NUMBER,
    TEXT_FIELD,
    CarrierApi,
    answer_params,
    call_status,
    carrier_api,
    code_in,
    config,
    inbound,
    post,
    receipt,
    spoken,
)
from conftest import BASE_URL
from flask.testing import FlaskClient


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


@pytest.mark.parametrize("provider", ["twilio", "plivo", "signalwire", "flowroute"])
def test_no_log_line_holds_the_code_or_the_number(
    provider: str,
    make_app,
    api: CarrierApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client: FlaskClient = make_app(**config(provider, OTP_RESEND_COOLDOWN="0")).test_client()
    v = client.post("/v1/verifications", json={"to": NUMBER, "channel": "auto"}).get_json()
    code = code_in(api.sent(provider, "sms")[-1][TEXT_FIELD[provider]])
    message_id = v["sends"][0]["provider_id"]
    status_message = f"{BASE_URL}/webhooks/{provider}/status/message/{v['id']}?a=0"
    post(client, provider, status_message, receipt(provider, message_id, "undelivered"))  # falls back to a call
    voice = client.application.extensions["verification"].settings.voice_providers[0]
    after = client.get(f"/v1/verifications/{v['id']}").get_json()
    call_id = after["sends"][1]["provider_id"]
    if voice != "console":
        answer = post(client, voice, f"{BASE_URL}/webhooks/{voice}/voice/{v['id']}?a=1", answer_params(voice, call_id))
        assert answer.status_code == 200
        assert spoken(ET.fromstring(answer.get_data())) == list(code) * 2  # the call reads it, twice
        status_call = f"{BASE_URL}/webhooks/{voice}/status/call/{v['id']}?a=1"
        post(client, voice, status_call, call_status(voice, call_id, "completed"))
    post(client, provider, f"{BASE_URL}/webhooks/{provider}/sms", inbound(provider, code))  # people reply with it
    post(client, provider, f"{BASE_URL}/webhooks/{provider}/sms", inbound(provider, "HELP"))
    assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).get_json()["valid"] is True
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) >= 6
    digits = NUMBER.lstrip("+")
    leaks = [line for line in lines if code in line or digits in line]
    assert leaks == []
    structured = [r.getMessage() for r in caplog.records if r.name.startswith(("telephony", "webhooks"))]
    assert len(structured) >= 6 and all(m.startswith("event=") for m in structured)
