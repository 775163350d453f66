"""Starting again resends the pending verification (issue 12, item 4), and a 502 answers with the
verification so the caller can resend or cancel it (item 5)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import responses
from conftest import NUMBER, TWILIO, TWILIO_API, Clock, start


def bodies(twilio_api: responses.RequestsMock) -> list[str]:
    return [parse_qs(c.request.body)["Body"][0] for c in twilio_api.calls if c.request.url.endswith("/Messages.json")]


def test_a_second_start_sends_the_same_code_again_and_either_sms_works(
    make_app, clock: Clock, twilio_api: responses.RequestsMock
) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    first = start(client, channel="sms")
    assert first.status_code == 201
    clock.advance(31)  # past the resend cooldown
    second = start(client, channel="sms")
    assert second.status_code == 200 and second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["sends_left"] == first.get_json()["sends_left"] - 1
    one, two = bodies(twilio_api)
    assert one == two  # the same code in both messages
    code = re.search(r"\b(\d{6})\b", one).group(1)
    check = client.post("/v1/verification-checks", json={"to": NUMBER, "code": code})
    assert check.status_code == 200 and check.get_json()["valid"]


def test_starting_again_obeys_the_resend_cooldown(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    assert start(client, channel="sms").status_code == 201
    again = start(client, channel="sms")
    assert again.status_code == 429 and 1 <= int(again.headers["Retry-After"]) <= 30
    assert len(bodies(twilio_api)) == 1


def test_starting_again_on_the_other_channel_calls_with_the_same_verification(
    make_app, twilio_api: responses.RequestsMock
) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    first = start(client, channel="sms").get_json()
    call = start(client, channel="call")  # the first switch of channel never waits
    assert call.status_code == 200 and call.get_json()["id"] == first["id"]
    assert [s["channel"] for s in call.get_json()["sends"]] == ["sms", "call"]


def test_a_finished_verification_is_not_restarted(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    first = start(client, channel="sms").get_json()
    client.post(f"/v1/verifications/{first['id']}/cancel")
    fresh = start(client, channel="sms")
    assert fresh.status_code == 201 and fresh.get_json()["id"] != first["id"]


def test_a_failed_send_answers_502_with_the_verification_which_can_be_resent(
    make_app, twilio_api: responses.RequestsMock
) -> None:
    twilio_api.remove(responses.POST, f"{TWILIO_API}/Messages.json")
    twilio_api.add(responses.POST, f"{TWILIO_API}/Messages.json", status=503, json={"code": 20500, "status": 503})
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    failed = start(client, channel="sms")
    body = failed.get_json()
    assert failed.status_code == 502 and body["error"]["code"] == "provider_error"
    v = body["verification"]
    assert v["status"] == "pending" and [(s["channel"], s["status"]) for s in v["sends"]] == [("sms", "failed")]
    resent = client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"})
    assert resent.status_code == 200 and resent.get_json()["sends"][-1]["channel"] == "call"
    assert client.post(f"/v1/verifications/{v['id']}/cancel").get_json()["status"] == "canceled"
