"""Approval requests ("was this you?") as one pure transition table, like `lifecycle.py` for codes.

`step(approval, event, now)` returns the next approval and whether anything changed; it does no
I/O. The approval service applies it: load, step, compare-and-set save (the event written in the
same step), then act. States: pending -> approved | denied | expired | canceled, each final and
reached exactly once (of concurrent answers the compare-and-set lets one through).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from telephony.errors import NotPending
from telephony.lifecycle import rank
from telephony.models import Attempt, Channel, SendStatus

APPROVAL_ID = re.compile(r"^ap_[0-9a-f]{8}[A-Za-z0-9_-]{22}$")
# "YES 4821", "y4821", " no  4821 ": a word and the 4-digit reference, any case and spacing.
REPLY = re.compile(r"^\s*(YES|Y|NO|N)\s*(\d{4})\s*$", re.IGNORECASE)
WRONG_REFERENCES = 5  # replies naming no pending approval of the number before its approvals are denied
KEPT_AFTER = 86400  # seconds an answered or expired approval can still be read (polling sees the outcome)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Approval:
    id: str
    to: str
    channel: Channel
    locale: str
    message: str
    reference: str
    created_at: float
    expires_at: float
    status: ApprovalStatus = ApprovalStatus.PENDING
    details: dict[str, str] = field(default_factory=dict)
    hidden_details: dict[str, str] = field(default_factory=dict)
    brand: str = ""
    responded_at: float | None = None
    responded_via: str | None = None  # sms or call
    attempts: tuple[Attempt, ...] = ()
    version: int = 0

    @property
    def pending(self) -> bool:
        return self.status == ApprovalStatus.PENDING

    def shown_status(self, now: float) -> ApprovalStatus:
        """Pending past its expiry reads as expired, before the worker has written it so."""
        return ApprovalStatus.EXPIRED if self.pending and now >= self.expires_at else self.status

    def with_changes(self, **changes: Any) -> Approval:
        return replace(self, **changes)


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    approve: bool
    via: Channel


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class TooManyWrongReferences:
    """Five replies from the number named no pending approval: deny what is pending (someone guesses)."""


@dataclass(frozen=True)
class SendResult:
    """A provider accepted (`provider_id`) or refused (`error`) attempt `index`; or a receipt for it."""

    index: int
    provider_id: str | None = None
    status: SendStatus | None = None
    error: str = ""


ApprovalEvent = Answer | Cancel | TooManyWrongReferences | SendResult


@dataclass(frozen=True)
class ApprovalStep:
    approval: Approval
    changed: bool = True
    event: str | None = None  # the lifecycle event the change makes (approval.approved…)


Rule = Callable[[Approval, Any, float], ApprovalStep]
S = ApprovalStatus


def _answer(a: Approval, e: Answer, now: float) -> ApprovalStep:
    if now >= a.expires_at:
        return ApprovalStep(a, changed=False)  # the worker expires it
    status = S.APPROVED if e.approve else S.DENIED
    done = a.with_changes(status=status, responded_at=round(now, 3), responded_via=str(e.via))
    return ApprovalStep(done, event=f"approval.{status}")


def _cancel(a: Approval, e: Cancel, now: float) -> ApprovalStep:
    if now >= a.expires_at:
        raise NotPending("The approval is expired.")
    return ApprovalStep(a.with_changes(status=S.CANCELED), event="approval.canceled")


def _deny_guessed(a: Approval, e: TooManyWrongReferences, now: float) -> ApprovalStep:
    if now >= a.expires_at:
        return ApprovalStep(a, changed=False)
    return ApprovalStep(a.with_changes(status=S.DENIED, responded_at=round(now, 3)), event="approval.denied")


def _send(a: Approval, e: SendResult, now: float) -> ApprovalStep:
    """Record a send's outcome or receipt; in every state (the record stays true), never a status change."""
    attempts = record_send(a.attempts, e)
    return ApprovalStep(a, changed=False) if attempts is None else ApprovalStep(a.with_changes(attempts=attempts))


def record_send(attempts: tuple[Attempt, ...], e: SendResult) -> tuple[Attempt, ...] | None:
    """The attempts with a send's outcome or receipt recorded, or None when it changes nothing (no
    such attempt, a duplicate, or a receipt older than what is known). Notices record theirs so too."""
    if not 0 <= e.index < len(attempts):
        return None
    attempt = moved = attempts[e.index]
    if e.provider_id and attempt.provider_id is None:
        moved = replace(moved, provider_id=e.provider_id)
    if e.error:
        moved = replace(moved, status=SendStatus.FAILED, error=e.error[:60])
    elif e.status is not None and rank(attempt.channel, e.status) > rank(attempt.channel, attempt.status):
        moved = replace(moved, status=e.status)
    if moved == attempt:
        return None
    return (*attempts[: e.index], moved, *attempts[e.index + 1 :])


def _refuse(a: Approval, e: ApprovalEvent, now: float) -> ApprovalStep:
    raise NotPending(f"The approval is {a.status}.")


def _nothing(a: Approval, e: ApprovalEvent, now: float) -> ApprovalStep:
    return ApprovalStep(a, changed=False)


_PENDING: dict[type, Rule] = {
    Answer: _answer, Cancel: _cancel, TooManyWrongReferences: _deny_guessed, SendResult: _send,
}  # fmt: skip
# A late answer changes nothing (its reply says so); a cancel is refused (409); sends stay recorded.
_CLOSED: dict[type, Rule] = {
    Answer: _nothing, Cancel: _refuse, TooManyWrongReferences: _nothing, SendResult: _send,
}  # fmt: skip
TRANSITIONS: dict[tuple[ApprovalStatus, type], Rule] = {
    **{(S.PENDING, kind): rule for kind, rule in _PENDING.items()},
    **{(status, kind): rule for status in S if status != S.PENDING for kind, rule in _CLOSED.items()},
}


def step(a: Approval, event: ApprovalEvent, now: float) -> ApprovalStep:
    """Apply one event at `now`. Raises `NotPending` for a cancel of a closed approval."""
    return TRANSITIONS[(a.status, type(event))](a, event, now)


def parse_reply(text: str) -> tuple[bool, str] | None:
    """(approve, reference) for `YES 4821` / `n 4821` and the like; None for anything else."""
    found = REPLY.match(text)
    if found is None:
        return None
    return found.group(1).upper().startswith("Y"), found.group(2)


def first_attempt(channel: Channel, provider: str, now: float) -> Attempt:
    return Attempt(1, channel, provider, SendStatus.QUEUED, round(now, 3))
