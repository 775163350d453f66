"""The verification lifecycle as one pure transition table.

`step(v, event, ctx)` returns the next verification and the actions to carry out; it does no
I/O. The service applies it: load, step, compare-and-set save, then act. Checks are the one
exception: the store runs `apply_check` atomically (in Lua for Redis) so that of many concurrent
right codes exactly one approves; the store contract tests hold both versions to one behaviour.

Verification states: pending -> approved | canceled | failed | max_attempts_reached (all final;
expiry removes the record in any state). Channel modes: `sms`, `call`, `auto` (SMS first, then
one call when the SMS fails or is not delivered within OTP_FALLBACK_AFTER seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from telephony.errors import NotPending, OptedOut, RateLimited, SendsExhausted
from telephony.models import SHORT_TEXT, Attempt, Channel, Mode, SendStatus, Status, Verification


class CheckOutcome(StrEnum):
    APPROVED = "approved"
    WRONG = "wrong"
    NOT_PENDING = "not_pending"
    MAX_ATTEMPTS = "max_attempts"
    MISSING = "missing"
    LOCKED = "locked"  # too many wrong codes for this number lately, across its verifications
    OTHER_PURPOSE = "other_purpose"  # the check named another purpose: no code of it passes, none is spent


# --- per-send statuses -----------------------------------------------------------------------
# Statuses only move to a higher rank. Deliberate no-ops, all from this rule:
# - the same status twice: carriers retry callbacks (Twilio `rc`, Plivo and Flowroute retries);
# - a lower rank after a higher one: callbacks arrive out of order (a `sent` after `delivered`,
#   `ringing` after `answered`);
# - a second final status of equal rank: the first one wins (a `delivered` after `failed` is a
#   carrier contradicting itself; Flowroute sends a level-1 and a level-2 receipt).
S = SendStatus
MESSAGE_RANK = {S.QUEUED: 0, S.SENT: 1, S.DELIVERED: 2, S.UNDELIVERED: 2, S.FAILED: 2}
CALL_RANK = {
    S.QUEUED: 0, S.RINGING: 1, S.ANSWERED: 2,
    S.COMPLETED: 3, S.BUSY: 3, S.NO_ANSWER: 3, S.FAILED: 3,
}  # fmt: skip
FAILED = frozenset({S.UNDELIVERED, S.FAILED, S.BUSY, S.NO_ANSWER})


def rank(channel: Channel, status: SendStatus) -> int:
    return (MESSAGE_RANK if channel == Channel.SMS else CALL_RANK)[status]


# --- events and actions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a step needs besides the verification: the time, settings, who carries new sends."""

    now: float
    sms_provider: str
    voice_provider: str
    resend_cooldown: int = 30
    fallback_after: int = 60
    sms_opted_out: bool = False


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt or call status for attempt `index`; `status` None when unknown."""

    index: int
    provider: str
    channel: Channel
    provider_id: str
    status: SendStatus | None
    raw: str


@dataclass(frozen=True)
class SendAccepted:
    index: int
    provider_id: str


@dataclass(frozen=True)
class SendFailed:
    """The provider of attempt `index` refused it; `next_provider` is the failover, if any."""

    index: int
    error: str
    next_provider: str | None = None


@dataclass(frozen=True)
class Resend:
    channel: Channel | None = None


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Approve:
    """The application approves a pending verification itself (Twilio's `Status=approved`)."""


@dataclass(frozen=True)
class FallbackTimer:
    pass


Event = Receipt | SendAccepted | SendFailed | Resend | Cancel | Approve | FallbackTimer


@dataclass(frozen=True)
class Deliver:
    """Call the provider of attempt `index`."""

    index: int


@dataclass(frozen=True)
class ScheduleFallback:
    at: float


Action = Deliver | ScheduleFallback


@dataclass(frozen=True)
class Step:
    verification: Verification
    actions: tuple[Action, ...] = ()
    note: str = ""  # why nothing happened, for the log
    changed: bool = True  # False: the event changes nothing (a duplicate, a refusal by the rules)


# --- rules -----------------------------------------------------------------------------------

# Each rule takes the event type it is listed under in TRANSITIONS (the table is what pairs them).
Rule = Callable[[Verification, Any, Context], Step]


def _send_status(v: Verification, e: Receipt, ctx: Context) -> Step:
    """Record a receipt on its attempt; shared by every state (the record stays true)."""
    attempt = _attempt(v, e.index, e.provider, e.channel)
    if attempt is None:
        return _unchanged(v, "receipt for an attempt this verification does not have")
    if attempt.provider_id not in (None, e.provider_id):
        return _unchanged(v, "receipt for another message or call")
    moved = attempt
    if e.status is None:
        moved = replace(attempt, raw_status=e.raw)  # unknown word: keep it raw, change nothing else
    elif rank(attempt.channel, e.status) > rank(attempt.channel, attempt.status):
        moved = replace(attempt, status=e.status, raw_status=e.raw)
    if attempt.provider_id is None:
        moved = replace(moved, provider_id=e.provider_id)
    if moved == attempt:
        return _unchanged(v, "duplicate or out-of-order status")
    return Step(v.replace_attempt(e.index, moved))


def _receipt_pending(v: Verification, e: Receipt, ctx: Context) -> Step:
    recorded = _send_status(v, e, ctx)
    if not recorded.changed:
        return recorded
    return _after_failure(settle(recorded.verification), ctx)


def _accepted(v: Verification, e: SendAccepted, ctx: Context) -> Step:
    attempt = v.attempts[e.index]
    if attempt.provider_id == e.provider_id:
        return _unchanged(v, "already recorded")
    v = v.replace_attempt(e.index, replace(attempt, provider_id=e.provider_id))
    if v.pending and v.mode == Mode.AUTO and attempt.channel == Channel.SMS and not v.fell_back:
        return Step(v, (ScheduleFallback(ctx.now + ctx.fallback_after),))
    return Step(v)


def _failed(v: Verification, e: SendFailed, ctx: Context) -> Step:
    failed = replace(v.attempts[e.index], status=SendStatus.FAILED, error=e.error[:SHORT_TEXT])
    v = v.replace_attempt(e.index, failed)
    if e.next_provider and v.pending:
        retry = Attempt(failed.send_no, failed.channel, e.next_provider, SendStatus.QUEUED, _stamp(ctx.now))
        return Step(v.with_changes(attempts=(*v.attempts, retry)), (Deliver(len(v.attempts)),))
    return _after_failure(settle(v), ctx)


def _accepted_closed(v: Verification, e: SendAccepted, ctx: Context) -> Step:
    # A send that raced with approval or cancel: keep its id so its receipts still find it.
    return Step(v.replace_attempt(e.index, replace(v.attempts[e.index], provider_id=e.provider_id)))


def _failed_closed(v: Verification, e: SendFailed, ctx: Context) -> Step:
    # The user finished (or canceled) while a send was on its way: record it, try no other provider.
    failed = replace(v.attempts[e.index], status=SendStatus.FAILED, error=e.error[:SHORT_TEXT])
    return Step(v.replace_attempt(e.index, failed))


def _resend(v: Verification, e: Resend, ctx: Context) -> Step:
    channel = e.channel or v.channel
    if channel == Channel.SMS and ctx.sms_opted_out:
        raise OptedOut("This number replied STOP; it gets no SMS until it replies START.")
    if v.sends_left == 0:
        raise SendsExhausted("No sends left for this verification.", retry_after=_until(v.expires_at, ctx.now))
    wait = resend_wait(v, channel, ctx)
    if wait:
        raise RateLimited(f"Wait {wait} s before sending again on this channel.", retry_after=wait)
    return _new_send(v, channel, ctx)


def _cancel(v: Verification, e: Cancel, ctx: Context) -> Step:
    return Step(v.with_changes(status=Status.CANCELED))


def _approve(v: Verification, e: Approve, ctx: Context) -> Step:
    return Step(v.with_changes(status=Status.APPROVED))


def _timer(v: Verification, e: FallbackTimer, ctx: Context) -> Step:
    if v.mode != Mode.AUTO or v.fell_back:
        return _unchanged(v, "fallback already placed")
    if _called(v):
        return _unchanged(v, "a call was already placed")
    if any(a.channel == Channel.SMS and a.status == SendStatus.DELIVERED for a in v.attempts):
        return _unchanged(v, "the SMS was delivered in time")
    if v.sends_left == 0:
        return _unchanged(v, "no sends left for a fallback call")
    return _fallback(v, ctx)


def _refuse(v: Verification, e: Event, ctx: Context) -> Step:
    raise NotPending(f"The verification is {v.status}.")


def _nothing(reason: str) -> Rule:
    return lambda v, e, ctx: _unchanged(v, reason)


_PENDING: dict[type, Rule] = {
    Receipt: _receipt_pending,
    SendAccepted: _accepted,
    SendFailed: _failed,
    Resend: _resend,
    Cancel: _cancel,
    Approve: _approve,
    FallbackTimer: _timer,
}
_CLOSED: dict[type, Rule] = {
    # A receipt for a verification already approved, canceled or failed: the send's record
    # stays true, and nothing else happens (no fallback for a user who already finished).
    Receipt: _send_status,
    SendAccepted: _accepted_closed,
    SendFailed: _failed_closed,
    Resend: _refuse,
    Cancel: _refuse,
    Approve: _refuse,
    FallbackTimer: _nothing("the verification is no longer pending"),
}
TRANSITIONS: dict[tuple[Status, type], Rule] = {
    **{(Status.PENDING, kind): rule for kind, rule in _PENDING.items()},
    **{(status, kind): rule for status in Status if status != Status.PENDING for kind, rule in _CLOSED.items()},
}


def step(v: Verification, event: Event, ctx: Context) -> Step:
    """Apply one event. Raises a `ServiceError` when the event is a refused request."""
    return TRANSITIONS[(Status(v.status), type(event))](v, event, ctx)


# --- helpers shared with the service and the stores ----------------------------------------------


def apply_check(v: Verification, matched: bool, now: float) -> tuple[CheckOutcome, Verification]:
    """Outcome of one check; `v` unchanged unless it was pending. The Redis twin is lua/check.lua."""
    if now >= v.expires_at:
        return CheckOutcome.MISSING, v
    if v.status == Status.MAX_ATTEMPTS:
        return CheckOutcome.MAX_ATTEMPTS, v
    if v.status != Status.PENDING:
        return CheckOutcome.NOT_PENDING, v
    if matched:
        return CheckOutcome.APPROVED, v.with_changes(status=Status.APPROVED)
    left = max(0, v.checks_left - 1)
    status = Status.MAX_ATTEMPTS if left == 0 else Status.PENDING
    return CheckOutcome.WRONG, v.with_changes(checks_left=left, status=status)


def settle(v: Verification) -> Verification:
    """A pending verification with no sends left, none of which got through, has failed."""
    if v.pending and v.sends_left == 0 and v.attempts and all(a.status in FAILED for a in v.attempts):
        return v.with_changes(status=Status.FAILED)
    return v


def first_send(v: Verification, ctx: Context, *, landline: bool = False) -> Step:
    """The first send of a new verification: SMS for `sms` and `auto`, but `auto` calls straight
    away a number that is opted out of SMS or is a landline."""
    straight_to_call = v.mode == Mode.AUTO and (ctx.sms_opted_out or landline)
    channel = Channel.CALL if v.mode == Mode.CALL or straight_to_call else Channel.SMS
    if channel == Channel.SMS and ctx.sms_opted_out:
        raise OptedOut("This number replied STOP; it gets no SMS until it replies START.")
    if channel == Channel.CALL and v.mode == Mode.AUTO:
        v = v.with_changes(fell_back=True)  # straight to the call: nothing to fall back to
    return _new_send(v, channel, ctx)


def resend_wait(v: Verification, channel: str, ctx: Context) -> int:
    """Seconds before `channel` may carry another send: the cooldown doubles with each send on it.

    A send still on its way (queued, no answer from the provider yet) counts as much as one the
    provider took: it is reserved in the same compare-and-set that checked the cooldown, so of
    concurrent resends one goes out and the others wait."""
    taken = [a for a in v.attempts if a.channel == channel and (a.provider_id is not None or not a.error)]
    if not taken:
        return 0  # the first switch to the other channel is never delayed
    sends = len({a.send_no for a in taken})
    return _until(max(a.at for a in taken) + ctx.resend_cooldown * 2 ** (sends - 1), ctx.now)


def _after_failure(v: Verification, ctx: Context) -> Step:
    """Under `auto`, the newest SMS send having failed places the one fallback call."""
    if v.mode != Mode.AUTO or not v.pending or v.fell_back or v.sends_left == 0 or _called(v):
        return Step(v)
    newest = [a for a in v.attempts if a.send_no == v.attempts[-1].send_no]
    if newest[0].channel != Channel.SMS or not all(a.status in FAILED for a in newest):
        return Step(v)
    return _fallback(v, ctx)


def _unchanged(v: Verification, why: str) -> Step:
    return Step(v, note=why, changed=False)


def _called(v: Verification) -> bool:
    """A call was placed (a fallback, or one the user asked for): the fallback never adds another."""
    return any(a.channel == Channel.CALL for a in v.attempts)


def _fallback(v: Verification, ctx: Context) -> Step:
    return _new_send(v.with_changes(fell_back=True), Channel.CALL, ctx)


def _new_send(v: Verification, channel: Channel, ctx: Context) -> Step:
    send_no = max((a.send_no for a in v.attempts), default=0) + 1
    provider = ctx.sms_provider if channel == Channel.SMS else ctx.voice_provider
    attempt = Attempt(send_no, channel, provider, SendStatus.QUEUED, _stamp(ctx.now))
    return Step(v.with_changes(attempts=(*v.attempts, attempt)), (Deliver(len(v.attempts)),))


def _attempt(v: Verification, index: int, provider: str, channel: str) -> Attempt | None:
    if not 0 <= index < len(v.attempts):
        return None
    attempt = v.attempts[index]
    return attempt if attempt.provider == provider and attempt.channel == channel else None


def _until(moment: float, now: float) -> int:
    return max(0, int(-(-(moment - now) // 1)))


def _stamp(now: float) -> float:
    # Milliseconds: what survives a JSON round trip through Redis's Lua (14 significant digits).
    return round(now, 3)
