"""Purposes (a code is for signing up, resetting a password…) and OTP_TEST_NUMBERS."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from conftest import LIMITS_OFF, NUMBER, newest_code
from flask import Flask

from telephony.wording import LOCALES, PURPOSE_NOUNS, sms_body, words

TEST_NUMBER = "+15005550006"


def start(client, purpose: str | None = None, to: str = NUMBER, **body: object) -> dict:
    fields = {"to": to, **({"purpose": purpose} if purpose else {}), **body}
    answer = client.post("/v1/verifications", json=fields)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer.get_json()


def test_a_purpose_words_the_message_and_is_shown(make_app: Callable[..., Flask]) -> None:
    client = make_app(**LIMITS_OFF).test_client()
    v = start(client, "password_reset")
    assert v["purpose"] == "password_reset"
    sms = client.get("/dev/outbox").get_json()["sends"][0]["body"]
    assert sms.startswith("Your Verify password reset code is ")
    assert start(client, to="+14155550101")["purpose"] == "login"
    refused = client.post("/v1/verifications", json={"to": NUMBER, "purpose": "marketing"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_request"


def test_each_purpose_has_its_own_pending_verification_and_code(make_app: Callable[..., Flask]) -> None:
    client = make_app(**LIMITS_OFF, OTP_RESEND_COOLDOWN="0").test_client()
    signup = start(client, "signup")
    signup_code = newest_code(client)
    reset = start(client, "password_reset")
    reset_code = newest_code(client)
    assert signup["id"] != reset["id"]
    assert start(client, "signup")["id"] == signup["id"]  # a repeat of one purpose resends that one
    # A signup code never passes a reset check: by number (the reset's own verification is checked)…
    wrong = client.post("/v1/verification-checks", json={"to": NUMBER, "code": signup_code, "purpose": "password_reset"})
    assert wrong.status_code == 200 and wrong.get_json()["valid"] is False and wrong.get_json()["id"] == reset["id"]
    # …nor by id when the check names the purpose it expects (and no check is spent on it).
    by_id = client.post(f"/v1/verifications/{signup['id']}/check", json={"code": signup_code, "purpose": "password_reset"})
    assert by_id.status_code == 200 and by_id.get_json()["valid"] is False
    assert by_id.get_json()["status"] == "pending" and by_id.get_json()["checks_left"] == signup["checks_left"]
    # A check by number without a purpose looks at login's: there is none.
    assert client.post("/v1/verification-checks", json={"to": NUMBER, "code": signup_code}).status_code == 404
    right = client.post("/v1/verification-checks", json={"to": NUMBER, "code": reset_code, "purpose": "password_reset"})
    assert right.get_json()["valid"] is True
    ok = client.post(f"/v1/verifications/{signup['id']}/check", json={"code": signup_code, "purpose": "signup"})
    assert ok.get_json()["valid"] is True


@pytest.mark.parametrize("locale", LOCALES)
def test_every_purpose_is_worded_in_every_locale(locale: str) -> None:
    for purpose, noun in PURPOSE_NOUNS[locale].items():
        assert noun in sms_body(locale, brand="Acme", code="123456", ttl=600, purpose=purpose)
        assert noun in words(locale, purpose).intro


def test_a_call_names_the_purpose(make_app: Callable[..., Flask]) -> None:
    client = make_app(**LIMITS_OFF).test_client()
    start(client, "phone_change", channel="call")
    script = client.get("/dev/outbox").get_json()["sends"][0]["script"]
    assert any("number change code" in line for line in script)


def test_test_numbers_send_nothing_take_the_fixed_code_and_keep_the_rules(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(OTP_TEST_NUMBERS=f"{TEST_NUMBER}=424242", OTP_LIMIT_NUMBER="2/600", OTP_MAX_CHECKS="2").test_client()
    with caplog.at_level(logging.INFO, logger="telephony"):
        v = start(client, to=TEST_NUMBER)
    assert "event=verification.test_number" in caplog.text
    assert [s["provider"] for s in v["sends"]] == ["test"] and v["sends"][0]["status"] == "queued"
    assert client.get("/dev/outbox").get_json()["sends"] == []  # nothing went anywhere
    wrong = client.post(f"/v1/verifications/{v['id']}/check", json={"code": "000000"})
    assert wrong.get_json()["valid"] is False and wrong.get_json()["checks_left"] == 1  # attempts still count
    assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": "424242"}).get_json()["valid"] is True
    start(client, to=TEST_NUMBER)
    limited = client.post("/v1/verifications", json={"to": TEST_NUMBER})
    assert limited.status_code == 429  # the number's limit still counts
    other = start(client, to=NUMBER)
    assert other["sends"][0]["provider"] == "console"  # every other number as usual


def test_test_numbers_are_checked_at_start_up(make_app: Callable[..., Flask]) -> None:
    from telephony.errors import ConfigError

    for bad in ("5005550006=123456", f"{TEST_NUMBER}=12", f"{TEST_NUMBER}"):
        with pytest.raises(ConfigError, match="OTP_TEST_NUMBERS"):
            make_app(OTP_TEST_NUMBERS=bad)


def test_production_says_at_start_up_how_many_test_numbers_are_set(caplog: pytest.LogCaptureFixture) -> None:
    from app import create_app
    from telephony.store import MemoryStore
    from tests.conftest import TWILIO

    config = {"APP_ENV": "production", "SECRET_KEY": "s" * 32, "API_KEYS": "k" * 32, "OTP_PROVIDER": "twilio",
              "PUBLIC_BASE_URL": "https://verify.example.com", "REDIS_URL": "redis://127.0.0.1:1/0", **TWILIO,
              "OTP_TEST_NUMBERS": "+14155550190=123456,+14155550191=654321"}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="telephony"):
        create_app(config, store=MemoryStore())
    assert "event=test_numbers.configured count=2" in caplog.text
    assert "123456" not in caplog.text and "+14155550190" not in caplog.text  # how many, not which


@pytest.mark.parametrize(("to", "neighbour_refused"), [("+14155550190", False), ("+14155550192", True)])
def test_test_numbers_count_nowhere_in_the_sms_pumping_statistics(
    make_app: Callable[..., Flask], to: str, neighbour_refused: bool
) -> None:
    """Sends that are never approved trip the prefix's pumping guard; a test number's do not (its
    prefix's neighbours go on getting codes). The ordinary number beside it shows the guard is on."""
    limits = {k: v for k, v in LIMITS_OFF.items() if not k.startswith("OTP_PUMPING")}
    client = make_app(**limits, OTP_TEST_NUMBERS="+14155550190=123456", OTP_PUMPING_MIN_SENDS="3",
                      OTP_PUMPING_MIN_RATIO="0.5").test_client()  # fmt: skip
    for _ in range(3):
        v = start(client, to=to)
        assert client.post(f"/v1/verifications/{v['id']}/cancel").status_code == 200
    neighbour = client.post("/v1/verifications", json={"to": "+14155550199"})
    assert (neighbour.status_code == 429) is neighbour_refused, neighbour.get_json()
