"""The transition table, case by case, with no I/O."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from telephony.errors import NotPending, OptedOut, RateLimited
from telephony.lifecycle import (
    TRANSITIONS,
    Approve,
    Cancel,
    Context,
    Deliver,
    Event,
    FallbackTimer,
    Receipt,
    Resend,
    ScheduleFallback,
    SendAccepted,
    SendFailed,
    first_send,
    step,
)
from telephony.models import Attempt, Mode, Status, Verification

NOW = 1_800_000_000.0
CTX = Context(now=NOW, sms_provider="twilio", voice_provider="twilio", resend_cooldown=30, fallback_after=60)


def verification(mode: str = "sms", status: str = "pending", *attempts: Attempt, fell_back: bool = False) -> Verification:
    return Verification(
        id="vf_00000000aaaaaaaaaaaaaaaaaaaaaa", to="+14155550100", mode=Mode(mode), locale="en", status=Status(status),
        checks_left=5, max_sends=5, created_at=NOW - 10, expires_at=NOW + 590, mac="m", sealed="s",
        attempts=attempts, fell_back=fell_back,
    )  # fmt: skip


def sms(status: str = "sent", send_no: int = 1, pid: str | None = "SM1", at: float = NOW - 10) -> Attempt:
    return Attempt(send_no, "sms", "twilio", status, at, pid)


def call(status: str = "queued", send_no: int = 2, pid: str | None = "CA1") -> Attempt:
    return Attempt(send_no, "call", "twilio", status, NOW - 5, pid)


def receipt(status: str | None, index: int = 0, channel: str = "sms", pid: str = "SM1", raw: str = "") -> Receipt:
    return Receipt(index, "twilio", channel, pid, status, raw or str(status))


def test_every_state_and_event_has_a_rule() -> None:
    events = get_args(Event)  # every event the machine takes, Approve (/v2's Status=approved) included
    assert Approve in events
    assert {(s, e) for s in Status for e in events} == set(TRANSITIONS)


def test_approve_settles_a_pending_verification_and_nothing_else() -> None:
    ctx = Context(now=1000.0, sms_provider="console", voice_provider="console", resend_cooldown=30, fallback_after=30)
    pending = Verification(id="vf_x", to="+14155550100", mode=Mode.SMS, locale="en", status=Status.PENDING,
                           checks_left=5, max_sends=5, created_at=1000.0, expires_at=1600.0, mac="m", sealed="s")  # fmt: skip
    assert step(pending, Approve(), ctx).verification.status == Status.APPROVED
    for status in Status:
        if status != Status.PENDING:
            with pytest.raises(NotPending):
                step(pending.with_changes(status=status), Approve(), ctx)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("queued", "sent", "sent"),
        ("sent", "delivered", "delivered"),
        ("queued", "delivered", "delivered"),
        ("delivered", "sent", "delivered"),  # out of order
        ("delivered", "delivered", "delivered"),  # duplicate
        ("failed", "delivered", "failed"),  # contradiction: the first final status wins
        ("delivered", "undelivered", "delivered"),
    ],
)
def test_message_statuses_only_move_forward(before: str, after: str, expected: str) -> None:
    result = step(verification("sms", "pending", sms(before)), receipt(after), CTX)
    assert result.verification.attempts[0].status == expected
    assert result.changed is (before != expected)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("queued", "ringing", "ringing"),
        ("ringing", "answered", "answered"),
        ("answered", "ringing", "answered"),
        ("answered", "completed", "completed"),
        ("completed", "busy", "completed"),
        ("ringing", "no-answer", "no-answer"),
    ],
)
def test_call_statuses_only_move_forward(before: str, after: str, expected: str) -> None:
    v = verification("call", "pending", call(before, send_no=1))
    result = step(v, receipt(after, channel="call", pid="CA1"), CTX)
    assert result.verification.attempts[0].status == expected


def test_unknown_status_is_kept_raw_and_changes_nothing_else() -> None:
    result = step(verification("sms", "pending", sms("sent")), receipt(None, raw="weird"), CTX)
    assert result.verification.attempts[0].status == "sent"
    assert result.verification.attempts[0].raw_status == "weird"
    assert result.actions == ()


def test_receipt_for_another_message_or_attempt_is_ignored() -> None:
    v = verification("sms", "pending", sms("sent"))
    assert not step(v, receipt("delivered", pid="SM-other"), CTX).changed
    assert not step(v, receipt("delivered", index=3), CTX).changed
    assert not step(v, receipt("delivered", channel="call"), CTX).changed


def test_receipt_fills_in_a_provider_id_the_service_had_not_recorded_yet() -> None:
    v = verification("sms", "pending", sms("queued", pid=None))
    assert step(v, receipt("sent", pid="SM9"), CTX).verification.attempts[0].provider_id == "SM9"


@pytest.mark.parametrize("bad", ["undelivered", "failed"])
def test_auto_falls_back_to_one_call_on_a_failed_receipt(bad: str) -> None:
    v = verification("auto", "pending", sms("sent"))
    result = step(v, receipt(bad), CTX)
    after = result.verification
    assert [a.channel for a in after.attempts] == ["sms", "call"]
    assert after.attempts[1].send_no == 2 and after.fell_back is True
    assert result.actions == (Deliver(1),)
    again = step(replace(after, attempts=(after.attempts[0], call("failed"))), receipt("failed"), CTX)
    assert not again.changed  # the duplicate receipt places no second call


def test_sms_mode_does_not_fall_back() -> None:
    result = step(verification("sms", "pending", sms("sent")), receipt("undelivered"), CTX)
    assert result.actions == () and result.verification.status == Status.PENDING


def test_a_failed_call_after_a_delivered_sms_changes_nothing_more() -> None:
    v = verification("auto", "pending", sms("delivered"), call("ringing"), fell_back=True)
    result = step(v, receipt("busy", index=1, channel="call", pid="CA1"), CTX)
    assert result.actions == () and result.verification.status == Status.PENDING
    assert result.verification.attempts[1].status == "busy"


def test_receipt_after_approval_is_recorded_but_places_no_call() -> None:
    v = verification("auto", "approved", sms("sent"))
    result = step(v, receipt("undelivered"), CTX)
    assert result.verification.attempts[0].status == "undelivered"
    assert result.verification.status == Status.APPROVED and result.actions == ()


def test_failed_send_fails_over_to_the_next_provider_as_the_same_send() -> None:
    v = verification("sms", "pending", sms("queued", pid=None))
    result = step(v, SendFailed(0, "twilio: HTTP 500", next_provider="plivo"), CTX)
    first, retry = result.verification.attempts
    assert (first.status, first.error) == ("failed", "twilio: HTTP 500")
    assert (retry.send_no, retry.provider, retry.status) == (1, "plivo", "queued")
    assert result.verification.sends_left == 4 and result.actions == (Deliver(1),)


def test_failed_send_under_auto_places_the_call() -> None:
    result = step(verification("auto", "pending", sms("queued", pid=None)), SendFailed(0, "down"), CTX)
    assert [a.channel for a in result.verification.attempts] == ["sms", "call"]
    assert result.actions == (Deliver(1),)


def test_when_no_send_is_left_and_none_got_through_the_verification_fails() -> None:
    attempts = [sms("failed", send_no=n, pid=f"SM{n}") for n in range(1, 5)] + [sms("queued", 5, pid=None)]
    result = step(verification("sms", "pending", *attempts), SendFailed(4, "down"), CTX)
    assert result.verification.status == Status.FAILED and result.verification.sends_left == 0


def test_accepted_sms_under_auto_schedules_the_fallback_timer() -> None:
    result = step(verification("auto", "pending", sms("queued", pid=None)), SendAccepted(0, "SM1"), CTX)
    assert result.actions == (ScheduleFallback(NOW + 60),)
    plain = step(verification("sms", "pending", sms("queued", pid=None)), SendAccepted(0, "SM1"), CTX)
    assert plain.actions == () and plain.verification.attempts[0].provider_id == "SM1"


@pytest.mark.parametrize(
    ("v", "places_call"),
    [
        (verification("auto", "pending", sms("sent")), True),
        (verification("auto", "pending", sms("queued")), True),
        (verification("auto", "pending", sms("delivered")), False),
        (verification("auto", "pending", sms("failed"), call(), fell_back=True), False),
        (verification("auto", "approved", sms("sent")), False),
        (verification("auto", "canceled", sms("sent")), False),
        (verification("sms", "pending", sms("sent")), False),
    ],
)
def test_fallback_timer(v: Verification, places_call: bool) -> None:
    result = step(v, FallbackTimer(), CTX)
    assert bool(result.actions) is places_call
    if places_call:
        assert result.verification.attempts[-1].channel == "call"


def test_resend_cooldown_grows_and_the_first_switch_is_free() -> None:
    v = verification("sms", "pending", sms("sent", at=NOW - 10))
    with pytest.raises(RateLimited) as info:
        step(v, Resend(), CTX)
    assert info.value.retry_after == 20
    assert step(v, Resend("call"), CTX).actions == (Deliver(1),)
    two = verification("sms", "pending", sms("sent", 1, "SM1", NOW - 100), sms("sent", 2, "SM2", NOW - 40))
    with pytest.raises(RateLimited) as info:
        step(two, Resend(), CTX)  # second send on the channel: 60 s cooldown
    assert info.value.retry_after == 20


def test_resend_by_sms_is_refused_to_an_opted_out_number() -> None:
    v = verification("sms", "pending", sms("sent", at=NOW - 1000))
    with pytest.raises(OptedOut):
        step(v, Resend(), replace(CTX, sms_opted_out=True))
    assert step(v, Resend("call"), replace(CTX, sms_opted_out=True)).actions == (Deliver(1),)


def test_first_send_respects_the_opt_out() -> None:
    opted = replace(CTX, sms_opted_out=True)
    with pytest.raises(OptedOut):
        first_send(verification("sms"), opted)
    auto = first_send(verification("auto"), opted).verification
    assert auto.attempts[0].channel == "call" and auto.fell_back is True
    assert first_send(verification("call"), opted).verification.attempts[0].channel == "call"


@pytest.mark.parametrize("status", ["approved", "canceled", "failed", "max_attempts_reached"])
def test_finished_verifications_refuse_resend_and_cancel(status: str) -> None:
    v = verification("sms", status, sms("sent", at=NOW - 1000))
    for event in (Resend(), Cancel()):
        with pytest.raises(NotPending):
            step(v, event, CTX)
    assert not step(v, FallbackTimer(), CTX).changed


def test_cancel() -> None:
    assert step(verification("sms", "pending", sms()), Cancel(), CTX).verification.status == Status.CANCELED
