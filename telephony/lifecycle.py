"""Pure rules of a verification's life: send statuses, checks, when it has failed.

No I/O here: the service loads a verification, applies these rules, saves with compare-and-set,
then acts. `store/redis.py` repeats `apply_check` in Lua so that a check is one atomic round trip;
the store contract tests hold the two to the same behaviour.
"""

from __future__ import annotations

from enum import StrEnum

from telephony.models import Attempt, Channel, Status, Verification


class CheckOutcome(StrEnum):
    APPROVED = "approved"
    WRONG = "wrong"
    NOT_PENDING = "not_pending"
    MAX_ATTEMPTS = "max_attempts"
    MISSING = "missing"


# Send statuses only move forward. Equal ranks never replace each other: a second terminal
# status (a `delivered` after `failed`, Twilio's duplicate callbacks) is ignored.
MESSAGE_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}
CALL_RANK = {
    "queued": 0, "ringing": 1, "answered": 2,
    "completed": 3, "busy": 3, "no-answer": 3, "failed": 3,
}  # fmt: skip
FAILED = frozenset({"undelivered", "failed", "busy", "no-answer"})


def rank(channel: str, status: str) -> int:
    table = MESSAGE_RANK if channel == Channel.SMS else CALL_RANK
    return table[status]


def advance(attempt: Attempt, status: str, raw_status: str | None) -> Attempt | None:
    """The attempt moved on to `status`, or None when this report changes nothing."""
    if rank(attempt.channel, status) <= rank(attempt.channel, attempt.status):
        return None
    return Attempt(**{**attempt.__dict__, "status": status, "raw_status": raw_status})


def apply_check(v: Verification, matched: bool) -> tuple[CheckOutcome, Verification]:
    """Outcome of one check; `v` unchanged unless it was pending."""
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
