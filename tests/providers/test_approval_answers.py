"""Approval requests on every provider with SMS and voice: the request goes out through the real
SDK (HTTP intercepted), the answer comes back as a signed inbound SMS or a signed keypress."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from carriers import (
    NUMBER,
    TEXT_FIELD,
    CarrierApi,
    answer_params,
    carrier_api,
    config,
    inbound,
    menu_action,
    post,
)
from conftest import BASE_URL, LIMITS_OFF
from flask.testing import FlaskClient

VOICE = ["twilio", "plivo", "signalwire"]
_ids = iter(range(1, 1_000_000))


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


@pytest.fixture
def client(request: pytest.FixtureRequest, make_app, api: CarrierApi) -> FlaskClient:
    # Replies unlimited here: eight answers at once each get theirs (OTP_LIMIT_REPLIES has its own tests).
    return make_app(**config(request.param, **LIMITS_OFF, OTP_LIMIT_REPLIES="off")).test_client()


def provider_of(client: FlaskClient) -> str:
    return client.application.extensions["verification"].settings.sms_providers[0]


def ask(client: FlaskClient, channel: str = "sms", **body: object) -> dict:
    fields = {"to": NUMBER, "message": "Sign in to Acme from Chrome on Windows",
              "details": {"Location": "Paris, FR"}, "hidden_details": {"session": "s_123"}, "channel": channel, **body}
    answer = client.post("/v1/approvals", json=fields)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def reply(client: FlaskClient, text: str, *, sender: str = NUMBER, message_id: str | None = None) -> str | None:
    """An inbound SMS as the provider posts it, signed; the reply text (None: no reply)."""
    provider = provider_of(client)
    message = inbound(provider, text, sender=sender)
    key = {"plivo": "MessageUUID"}.get(provider, "MessageSid")
    message[key] = message_id or f"SMin{next(_ids)}"
    response = post(client, provider, f"{BASE_URL}/webhooks/{provider}/sms", message)
    assert response.status_code == 200
    messages = ET.fromstring(response.get_data()).findall("Message")
    return messages[0].text if messages else None


def status(client: FlaskClient, approval_id: str) -> dict:
    return client.get(f"/v1/approvals/{approval_id}").get_json()


@pytest.mark.parametrize("client", VOICE, indirect=True)
def test_an_sms_reply_approves_once(client: FlaskClient, api: CarrierApi) -> None:
    provider = provider_of(client)
    a = ask(client)
    (sent,) = api.sent(provider, "sms")
    text = sent[TEXT_FIELD[provider]]
    assert f"YES {a['reference']}" in text and "Sign in to Acme" in text and "Paris, FR" in text
    assert "s_123" not in text  # hidden details never reach the phone
    assert reply(client, f" yes   {a['reference']} ", message_id="SMreply1") == "Verify: approved. Thank you."
    done = status(client, a["id"])
    assert done["status"] == "approved" and done["responded_via"] == "sms" and done["responded_at"]
    assert reply(client, f"YES {a['reference']}", message_id="SMreply1") is None  # the carrier's retry: nothing
    assert "already answered" in reply(client, f"NO {a['reference']}")  # a late change of mind changes nothing
    assert status(client, a["id"])["status"] == "approved"


@pytest.mark.parametrize("client", VOICE, indirect=True)
def test_a_keypress_denies_and_a_machine_hears_nothing(client: FlaskClient, api: CarrierApi) -> None:
    provider = provider_of(client)
    a = ask(client, "call")
    (placed,) = api.sent(provider, "call")
    url = placed["answer_url" if provider == "plivo" else "Url"]
    machine = post(client, provider, url, answer_params(provider, "CA1", AnsweredBy="machine_start", Machine="true"))
    assert "Sign in" not in machine.get_data(as_text=True)
    markup = ET.fromstring(post(client, provider, url, answer_params(provider, "CA1")).get_data())
    said = " ".join(e.text for e in markup.iter() if e.tag in ("Say", "Speak") and e.text)
    assert "Sign in to Acme from Chrome on Windows" in said and "Press 1 to approve, or 2 to deny." in said
    assert "s_123" not in said
    pressed = post(client, provider, menu_action(markup), answer_params(provider, "CA1", Digits="2"))
    assert "denied" in pressed.get_data(as_text=True)
    done = status(client, a["id"])
    assert done["status"] == "denied" and done["responded_via"] == "call"


@pytest.mark.parametrize("client", ["twilio"], indirect=True)
def test_other_keys_and_silence_ask_again_twice_then_leave_it_pending(client: FlaskClient, api: CarrierApi) -> None:
    a = ask(client, "call")
    url = api.sent("twilio", "call")[0]["Url"]
    markup = ET.fromstring(post(client, "twilio", url, answer_params("twilio", "CA1")).get_data())
    for digits in ("9", ""):  # another key, then silence (the Redirect after the Gather)
        pressed = post(client, "twilio", menu_action(markup), answer_params("twilio", "CA1", Digits=digits))
        markup = ET.fromstring(pressed.get_data())
        assert [e for e in markup if e.tag == "Gather"]  # asked again
    last = post(client, "twilio", menu_action(markup), answer_params("twilio", "CA1", Digits="7"))
    last = last.get_data(as_text=True)
    assert "Gather" not in last and "Goodbye" in last
    assert status(client, a["id"])["status"] == "pending"


@pytest.mark.parametrize("client", ["twilio"], indirect=True)
def test_a_reply_from_another_number_changes_nothing(client: FlaskClient, api: CarrierApi) -> None:
    a = ask(client)
    assert "no request with that reference" in reply(client, f"YES {a['reference']}", sender="+14155550177")
    assert status(client, a["id"])["status"] == "pending"
    assert reply(client, "YES") is not None and status(client, a["id"])["status"] == "pending"  # bare YES: START


@pytest.mark.parametrize("client", ["twilio"], indirect=True)
def test_five_wrong_references_deny_what_is_pending(client: FlaskClient, api: CarrierApi) -> None:
    a = ask(client)
    wrong = f"{(int(a['reference']) + 1) % 10_000:04d}"
    for _ in range(4):
        assert "no request with that reference" in reply(client, f"YES {wrong}")
        assert status(client, a["id"])["status"] == "pending"
    reply(client, f"YES {wrong}")
    assert status(client, a["id"])["status"] == "denied"
    assert "already answered" in reply(client, f"YES {a['reference']}")
    assert status(client, a["id"])["status"] == "denied"


@pytest.mark.parametrize("client", ["twilio"], indirect=True)
def test_concurrent_yes_and_no_exactly_one_wins(client: FlaskClient, api: CarrierApi) -> None:
    a = ask(client)
    replies: list[str | None] = []
    barrier = threading.Barrier(8)

    def answer(word: str) -> None:
        barrier.wait()
        replies.append(reply(client, f"{word} {a['reference']}"))

    threads = [threading.Thread(target=answer, args=("YES" if i % 2 else "NO",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = status(client, a["id"])["status"]
    winners = [r for r in replies if r and "already answered" not in r]
    assert len(winners) == 1 and done in winners[0]
