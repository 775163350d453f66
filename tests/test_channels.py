"""Channel selection end to end on Twilio: fallback by receipt and by timer, keywords, the IVR."""

from __future__ import annotations

import base64
import re
import threading
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs

import pytest
import responses
from conftest import BASE_URL, NUMBER, TWILIO, Carrier, signed_post, started
from flask import Flask
from flask.testing import FlaskClient

from app import create_app


@pytest.fixture
def app(make_app, twilio_api: responses.RequestsMock) -> Flask:
    return make_app(OTP_PROVIDER="twilio", **TWILIO)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sent(twilio_api: responses.RequestsMock, kind: str) -> list[dict[str, list[str]]]:
    return [parse_qs(c.request.body) for c in twilio_api.calls if c.request.url.endswith(f"/{kind}.json")]


def state(client: FlaskClient, vid: str) -> dict:
    return client.get(f"/v1/verifications/{vid}").get_json()


# --- fallback ---------------------------------------------------------------------------------


def test_undelivered_receipt_places_one_call(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    v = started(client, channel="auto")
    [message] = sent(twilio_api, "Messages")
    receipt = {"MessageSid": v["sends"][0]["provider_id"], "MessageStatus": "undelivered", "ErrorCode": "30003"}
    for _ in range(3):  # Twilio retries; each repeat must change nothing
        assert signed_post(client, message["StatusCallback"][0], receipt).status_code == 204
    [call] = sent(twilio_api, "Calls")
    assert call["Url"][0] == f"{BASE_URL}/webhooks/twilio/voice/{v['id']}?a=1"
    after = state(client, v["id"])
    assert [(s["channel"], s["status"]) for s in after["sends"]] == [("sms", "undelivered"), ("call", "queued")]
    assert (after["channel"], after["sends_left"], after["status"]) == ("call", 3, "pending")
    busy = {"CallSid": after["sends"][1]["provider_id"], "CallStatus": "busy"}
    assert signed_post(client, call["StatusCallback"][0], busy).status_code == 204
    assert len(sent(twilio_api, "Calls")) == 1 and state(client, v["id"])["status"] == "pending"


def test_delivered_sms_then_failed_call_changes_nothing_more(
    client: FlaskClient, carrier: Carrier, twilio_api: responses.RequestsMock
) -> None:
    v = started(client, channel="auto")
    url = sent(twilio_api, "Messages")[0]["StatusCallback"][0]
    sid = v["sends"][0]["provider_id"]
    carrier.message_status(url, sid, "delivered")
    carrier.message_status(url, sid, "failed")  # contradiction: ignored
    assert sent(twilio_api, "Calls") == []
    assert state(client, v["id"])["sends"][0]["status"] == "delivered"


def test_timer_places_the_call_when_no_receipt_arrives(app: Flask, clock, twilio_api) -> None:
    client = app.test_client()
    v = started(client, channel="auto")
    service = app.extensions["verification"]
    clock.advance(59)
    assert service.fire_due_timers() == 0
    clock.advance(1)
    assert service.fire_due_timers() == 1
    assert len(sent(twilio_api, "Calls")) == 1
    assert service.fire_due_timers() == 0
    assert state(client, v["id"])["sends"][1]["channel"] == "call"


def test_timer_does_nothing_once_delivered_or_approved(app: Flask, clock, twilio_api) -> None:
    client = app.test_client()
    delivered = started(client, channel="auto")
    url = sent(twilio_api, "Messages")[0]["StatusCallback"][0]
    signed_post(client, url, {"MessageSid": delivered["sends"][0]["provider_id"], "MessageStatus": "delivered"})
    approved = started(client, "+14155550101", "auto")
    code = re.search(r"\b(\d{6})\b", sent(twilio_api, "Messages")[-1]["Body"][0]).group(1)
    assert client.post(f"/v1/verifications/{approved['id']}/check", json={"code": code}).get_json()["valid"]
    clock.advance(61)
    assert app.extensions["verification"].fire_due_timers() == 2
    assert sent(twilio_api, "Calls") == []


@pytest.mark.redis
def test_two_racing_workers_fire_a_timer_once_and_it_survives_a_restart(
    redis_url: str, clock, twilio_api: responses.RequestsMock
) -> None:
    config = {"APP_ENV": "test", "SECRET_KEY": "race-secret-0123456789", "PUBLIC_BASE_URL": BASE_URL,
              "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO}  # fmt: skip
    web = create_app(config, clock=clock)
    ids = [started(web.test_client(), f"+1415555{n:04d}", "auto")["id"] for n in range(100, 110)]
    del web  # the process that scheduled the timers is gone
    workers = [create_app(config, clock=clock).extensions["verification"] for _ in range(2)]
    clock.advance(60)
    barrier = threading.Barrier(2)
    fired: list[int] = []

    def run(service) -> None:
        barrier.wait()
        total = 0
        while n := service.fire_due_timers(limit=2):
            total += n
        fired.append(total)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fired) == 10
    called = [c["Url"][0].split("/voice/")[1].split("?")[0] for c in sent(twilio_api, "Calls")]
    assert sorted(called) == sorted(ids)  # each verification called exactly once


# --- opt-out and keywords ---------------------------------------------------------------------


def inbound(client: FlaskClient, body: str, sid: str, sender: str = NUMBER) -> ET.Element:
    params = {"MessageSid": sid, "From": sender, "To": TWILIO["TWILIO_FROM"], "Body": body, "NumMedia": "0"}
    response = signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    return ET.fromstring(response.get_data())


def reply_of(element: ET.Element) -> str | None:
    messages = element.findall("Message")
    return messages[0].text if messages else None


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "s t o p"]
)
def test_stop_family_opts_out_of_sms_only(client: FlaskClient, twilio_api, word: str) -> None:
    assert "no longer receive" in reply_of(inbound(client, word, "SMin1"))
    response = client.post("/v1/verifications", json={"to": NUMBER, "channel": "sms"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "opted_out"
    auto = started(client, channel="auto")
    assert [s["channel"] for s in auto["sends"]] == ["call"]
    client.post(f"/v1/verifications/{auto['id']}/cancel")
    assert started(client, channel="call")["channel"] == "call"
    assert sent(twilio_api, "Messages") == []


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_start_family_opts_back_in(client: FlaskClient, twilio_api, word: str) -> None:
    inbound(client, "STOP", "SMin1")
    assert "again" in reply_of(inbound(client, word, "SMin2"))
    assert started(client, channel="sms")["sends"][0]["channel"] == "sms"


def test_help_and_unknown_words(client: FlaskClient) -> None:
    assert "Reply CALL" in reply_of(inbound(client, "help", "SMin1"))
    assert reply_of(inbound(client, "hello there", "SMin2")) is None


def test_call_keyword_switches_the_pending_verification_to_a_call(
    client: FlaskClient, twilio_api: responses.RequestsMock
) -> None:
    v = started(client, channel="sms")
    assert "calling you" in reply_of(inbound(client, "call", "SMin1"))
    assert len(sent(twilio_api, "Calls")) == 1
    assert state(client, v["id"])["channel"] == "call"
    assert "wait" in reply_of(inbound(client, "CALL", "SMin2"))  # the call channel's cooldown
    assert len(sent(twilio_api, "Calls")) == 1


def test_resend_keyword_obeys_the_cooldown_and_the_opt_out(
    app: Flask, clock, twilio_api: responses.RequestsMock
) -> None:
    client = app.test_client()
    assert "no code waiting" in reply_of(inbound(client, "RESEND", "SMin0"))
    started(client, channel="sms")
    assert "wait" in reply_of(inbound(client, "RESEND", "SMin1"))
    clock.advance(31)
    assert "on its way" in reply_of(inbound(client, "RESEND", "SMin2"))
    bodies = [m["Body"][0] for m in sent(twilio_api, "Messages")]
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same code again
    inbound(client, "STOP", "SMin3")
    clock.advance(120)
    assert "START first" in reply_of(inbound(client, "RESEND", "SMin4"))


def test_a_repeated_inbound_message_is_handled_once(client: FlaskClient, twilio_api) -> None:
    started(client, channel="sms")
    assert reply_of(inbound(client, "CALL", "SMsame")) is not None
    assert reply_of(inbound(client, "CALL", "SMsame")) is None
    assert len(sent(twilio_api, "Calls")) == 1


def test_replies_follow_the_number_s_country(client: FlaskClient) -> None:
    assert "Responde CALL" in reply_of(inbound(client, "HELP", "SMes", sender="+34612345678"))
    assert "Répondez CALL" in reply_of(inbound(client, "HELP", "SMfr", sender="+33612345678"))


# --- the voice IVR ----------------------------------------------------------------------------


def answer(client: FlaskClient, url: str, **extra: str) -> ET.Element:
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "in-progress", "To": NUMBER, **extra}
    response = signed_post(client, url, params)
    assert response.status_code == 200
    return ET.fromstring(response.get_data())


def digits(element: ET.Element) -> list[str]:
    return [s.text for s in element.iter("Say") if s.text and s.text.isdigit()]


def menu_of(element: ET.Element) -> str | None:
    gathers = element.findall("Gather")
    return gathers[0].get("action") if gathers else None


def call_url(client: FlaskClient, twilio_api: responses.RequestsMock, **settings: str) -> str:
    started(client, channel="call")
    return sent(twilio_api, "Calls")[-1]["Url"][0]


def test_pressing_1_repeats_the_code_three_times_then_goodbye(
    client: FlaskClient, twilio_api: responses.RequestsMock
) -> None:
    first = answer(client, call_url(client, twilio_api))
    code = digits(first)
    assert len(code) == 12
    menu = menu_of(first)
    for repeat in range(1, 4):
        again = answer(client, menu, Digits="1")
        assert digits(again) == code
        menu = menu_of(again)
        assert (menu is None) is (repeat == 3)  # the third repeat offers no more
    exhausted = menu_of(first).replace("r=0", "r=3")
    assert digits(answer(client, exhausted, Digits="1")) == []


@pytest.mark.parametrize("pressed", [{"Digits": "2"}, {"Digits": "*"}, {}])
def test_other_keys_or_silence_say_goodbye(client: FlaskClient, twilio_api, pressed: dict) -> None:
    menu = menu_of(answer(client, call_url(client, twilio_api)))
    goodbye = answer(client, menu, **pressed)
    assert digits(goodbye) == [] and goodbye[-1].tag == "Hangup"
    assert "Goodbye" in goodbye.find("Say").text


def test_press_a_key_gate(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", OTP_VOICE_PRESS_KEY="1", **TWILIO).test_client()
    gate = answer(client, call_url(client, twilio_api))
    assert digits(gate) == [] and "Press any key" in gate.find("Gather/Say").text
    assert "g=1" in menu_of(gate)
    assert len(digits(answer(client, menu_of(gate), Digits="5"))) == 12
    assert digits(answer(client, menu_of(gate))) == []  # silence: nothing said


@pytest.mark.parametrize(("environment_gate", "service_gate"), [("1", "false"), ("0", "true")])
def test_a_v2_service_s_press_a_key_gate_wins_over_the_environment_s(
    make_app, twilio_api: responses.RequestsMock, environment_gate: str, service_gate: str
) -> None:
    """DtmfInputRequired is copied into each verification; its answer URL follows it, not OTP_VOICE_PRESS_KEY."""
    client = make_app(OTP_PROVIDER="twilio", OTP_VOICE_PRESS_KEY=environment_gate, **TWILIO).test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"AC" + b"0" * 32 + b":any").decode()}  # development
    service = client.post("/v2/Services", data={"FriendlyName": "Gate", "DtmfInputRequired": service_gate},
                          headers=auth).get_json()  # fmt: skip
    started = client.post(f"/v2/Services/{service['sid']}/Verifications", data={"To": NUMBER, "Channel": "call"},
                          headers=auth)  # fmt: skip
    assert started.status_code == 201, started.get_json()
    first = answer(client, sent(twilio_api, "Calls")[-1]["Url"][0])
    if service_gate == "true":
        assert digits(first) == [] and "g=1" in menu_of(first)  # the gate, though the environment has none
        assert len(digits(answer(client, menu_of(first), Digits="5"))) == 12
    else:
        assert len(digits(first)) == 12  # the code straight away, though the environment gates calls
        assert "Gate" in first.find(".//Say").text  # the service's brand


def test_a_machine_never_hears_the_code(client: FlaskClient, twilio_api: responses.RequestsMock) -> None:
    url = call_url(client, twilio_api)
    assert sent(twilio_api, "Calls")[0]["MachineDetection"] == ["Enable"]
    for machine in ("machine_start", "machine_end_beep", "fax"):
        assert digits(answer(client, url, AnsweredBy=machine)) == []
    assert len(digits(answer(client, url, AnsweredBy="human"))) == 12


def test_machines_may_be_spoken_to_when_configured(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", OTP_VOICE_MACHINE="speak", **TWILIO).test_client()
    url = call_url(client, twilio_api)
    assert "MachineDetection" not in sent(twilio_api, "Calls")[0]
    assert len(digits(answer(client, url, AnsweredBy="machine_start"))) == 12


@pytest.mark.parametrize(("number", "language", "word"), [("+34612345678", "es-ES", "código"),
                                                          ("+4915123456789", "de-DE", "Bestätigungscode")])  # fmt: skip
def test_calls_speak_the_number_s_language(
    client: FlaskClient, twilio_api: responses.RequestsMock, number: str, language: str, word: str
) -> None:
    started(client, number, "call")
    twiml = answer(client, sent(twilio_api, "Calls")[-1]["Url"][0])
    says = list(twiml.iter("Say"))
    assert {s.get("language") for s in says} == {language}
    assert word in says[0].text


def test_the_code_is_spoken_only_to_the_newest_call_and_a_bounded_number_of_times(
    app: Flask, clock, twilio_api: responses.RequestsMock
) -> None:
    client = app.test_client()
    first_url = call_url(client, twilio_api)
    plays = [len(digits(answer(client, first_url))) for _ in range(5)]
    assert plays == [12, 12, 12, 12, 0]  # 1 + 3 repeats per call placed; a replay past that hears nothing
    vid = first_url.split("/voice/")[1].split("?")[0]
    clock.advance(31)
    assert client.post(f"/v1/verifications/{vid}/resend", json={"channel": "call"}).status_code == 200
    second_url = sent(twilio_api, "Calls")[-1]["Url"][0]
    assert digits(answer(client, first_url)) == []  # the older call's URL no longer speaks
    assert len(digits(answer(client, second_url))) == 12
