"""Notices through /v1: the contract's shape, the texts, opt-outs, their own limit, their events and
the pure transition rules (provider failures and receipts: tests/providers/test_notice_receipts.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from conftest import LIMITS_OFF, NUMBER
from flask import Flask

from telephony.approvals import SendResult, first_attempt
from telephony.models import Channel, SendStatus
from telephony.notice_wording import NOTICE_WORDING, notice_sms
from telephony.notices import Notice, NoticeKind, NoticeStatus, SendFailed, step
from telephony.wording import LOCALES
from tests.test_events import work

REQUEST = {"to": NUMBER, "kind": "password_changed", "locale": "en"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(OTP_BRAND="Acme", **LIMITS_OFF)


def events(client) -> list[tuple[str, str, str]]:
    listed = client.get("/v1/events").get_json()["events"]
    return [(e["type"], e["data"]["id"], e["data"]["status"]) for e in listed]


def test_a_notice_answers_the_contracts_shape_and_is_sent(app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/v1/notices", json=REQUEST)
    assert answer.status_code == 201, answer.get_json()
    n = answer.get_json()
    assert answer.headers["Location"].endswith(f"/v1/notices/{n['id']}")
    assert list(n) == ["id", "to", "kind", "locale", "status", "created_at", "sends"]
    assert re.fullmatch(r"nt_[0-9a-f]{8}[A-Za-z0-9_-]{22}", n["id"])
    assert (n["to"], n["kind"], n["locale"], n["status"]) == (NUMBER, "password_changed", "en", "sent")
    assert n["sends"][0]["channel"] == "sms" and n["sends"][0]["provider"] == "console" and n["sends"][0]["provider_id"]
    assert client.get(f"/v1/notices/{n['id']}").get_json() == n
    sms = client.get("/dev/outbox").get_json()["sends"][0]
    assert sms["body"] == notice_sms("en", NoticeKind.PASSWORD_CHANGED, brand="Acme")
    work(app)
    assert events(client) == [("notice.sent", n["id"], "sent")]


def test_the_locale_defaults_to_the_numbers(app: Flask) -> None:
    n = app.test_client().post("/v1/notices", json={"to": "+34612345678", "kind": "phone_changed"}).get_json()
    assert n["locale"] == "es"


@pytest.mark.parametrize("change", [
    {"kind": "password_forgotten"}, {"kind": ""}, {"kind": 5}, {"locale": "xx"}, {"locale": None}, {"to": "4155550100"},
    {"to": 14155550100}, {"channel": "call"}, {"message": "hi"},
])  # fmt: skip
def test_bad_notices_are_refused_and_nothing_is_sent(app: Flask, change: dict) -> None:
    client = app.test_client()
    answer = client.post("/v1/notices", json={**REQUEST, **change})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] in ("invalid_request", "invalid_phone_number")
    assert client.get("/dev/outbox").get_json()["sends"] == []


def test_unknown_notices_are_404(app: Flask) -> None:
    client = app.test_client()
    for notice_id in ("nt_nope", "nt_0123abcd" + "A" * 22, "ap_0123abcd" + "A" * 22):
        answer = client.get(f"/v1/notices/{notice_id}")
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_text_names_the_brand_and_carries_no_code_or_link(kind: NoticeKind, locale: str) -> None:
    text = notice_sms(locale, kind, brand="Acme Bank")
    assert "Acme Bank" in text
    assert not re.search(r"\d{4,}", text)
    assert not re.search(r"https?:|www\.|\.(com|net|org|io)\b|/", text, re.IGNORECASE)


def test_every_locale_has_every_kind() -> None:
    assert set(NOTICE_WORDING) == set(LOCALES)
    assert all(set(texts) == set(NoticeKind) for texts in NOTICE_WORDING.values())


def test_notices_follow_opt_outs_and_destination_rules(app: Flask) -> None:
    client = app.test_client()
    app.extensions["verification"].store.set_opted_out(NUMBER, True)
    refused = client.post("/v1/notices", json=REQUEST)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "opted_out"
    premium = client.post("/v1/notices", json={**REQUEST, "to": "+19005550100"})
    assert premium.status_code == 403 and premium.get_json()["error"]["code"] == "destination_not_allowed"
    assert client.get("/dev/outbox").get_json()["sends"] == []


def test_notices_have_a_limit_of_their_own(make_app: Callable[..., Flask]) -> None:
    client = make_app(**{**LIMITS_OFF, "OTP_LIMIT_NOTICES": "2/3600", "OTP_LIMIT_NUMBER": "1/600"}).test_client()
    assert client.post("/v1/notices", json=REQUEST).status_code == 201
    assert client.post("/v1/notices", json={**REQUEST, "kind": "password_reset"}).status_code == 201
    limited = client.post("/v1/notices", json=REQUEST)
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    # Notices and codes count apart: the number still gets its one code.
    assert client.post("/v1/verifications", json={"to": NUMBER}).status_code == 201
    other = client.post("/v1/notices", json={**REQUEST, "to": "+14155550101"})
    assert other.status_code == 201  # the limit is per number


def test_off_lifts_the_notices_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(**{**LIMITS_OFF, "OTP_LIMIT_NOTICES": "off"}).test_client()
    assert all(client.post("/v1/notices", json=REQUEST).status_code == 201 for _ in range(25))


# --- the pure rules ------------------------------------------------------------------------------


def notice(*providers: str) -> Notice:
    attempts = tuple(first_attempt(Channel.SMS, p, 1000.0) for p in providers)
    return Notice("nt_0123abcd" + "A" * 22, NUMBER, NoticeKind.PHONE_CHANGED, "en", 1000.0, 1000.0 + 86400,
                  attempts=attempts)  # fmt: skip


def test_accepted_is_sent_once_and_a_failed_receipt_fails_it() -> None:
    sent = step(notice("twilio"), SendResult(0, "SM1"))
    assert sent.notice.status == NoticeStatus.SENT and sent.event == "notice.sent"
    assert not step(sent.notice, SendResult(0, "SM1")).changed  # a duplicate
    delivered = step(sent.notice, SendResult(0, status=SendStatus.DELIVERED))
    assert delivered.notice.attempts[0].status == SendStatus.DELIVERED and delivered.event is None
    failed = step(sent.notice, SendResult(0, status=SendStatus.UNDELIVERED))
    assert failed.notice.status == NoticeStatus.FAILED and failed.event == "notice.failed"
    late = step(failed.notice, SendResult(0, status=SendStatus.SENT))
    assert not late.changed  # a receipt older than what is known changes nothing


def test_a_refusal_fails_over_then_fails_when_no_provider_is_left() -> None:
    retry = first_attempt(Channel.SMS, "plivo", 1001.0)
    moved = step(notice("twilio"), SendFailed(0, "down", retry))
    assert moved.notice.status == NoticeStatus.PENDING and moved.event is None
    assert [a.provider for a in moved.notice.attempts] == ["twilio", "plivo"]
    assert moved.notice.attempts[0].status == SendStatus.FAILED and moved.notice.attempts[0].error == "down"
    last = step(moved.notice, SendFailed(1, "down too"))
    assert last.notice.status == NoticeStatus.FAILED and last.event == "notice.failed"
    assert step(last.notice, SendResult(1, status=SendStatus.DELIVERED)).notice.status == NoticeStatus.FAILED


def test_the_cli_sends_a_notice(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["otp", "notice", NUMBER, "phone_changed", "--locale", "it"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output[result.output.index("{") :])
    assert (shown["kind"], shown["locale"], shown["status"]) == ("phone_changed", "it", "sent")
    refused = app.test_cli_runner().invoke(args=["otp", "notice", NUMBER, "nonsense"])
    assert refused.exit_code == 2
