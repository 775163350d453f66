"""Notices: one SMS that tells a person what happened to their account, with no code to enter.

`step(notice, event)` returns the next notice and the lifecycle event the change makes; it does no
I/O. The notice service applies it as approvals do theirs: load, step, compare-and-set save (the
event written in the same step). States: pending -> sent (a provider accepted it) -> failed (a
receipt says it never arrived), or pending -> failed (every provider refused it). `failed` is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from telephony.approvals import SendResult, record_send
from telephony.lifecycle import FAILED
from telephony.models import Attempt

NOTICE_ID = re.compile(r"^nt_[0-9a-f]{8}[A-Za-z0-9_-]{22}$")
KEPT_FOR = 3 * 86400  # seconds a notice can be read (and its receipts recorded), as long as its events are kept


class NoticeKind(StrEnum):
    NUMBER_VERIFIED = "number_verified"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind of notice, not a password)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    PHONE_CHANGE_REQUESTED = "phone_change_requested"
    PHONE_CHANGED = "phone_changed"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Notice:
    id: str
    to: str
    kind: NoticeKind
    locale: str
    created_at: float
    expires_at: float  # when the record is forgotten
    status: NoticeStatus = NoticeStatus.PENDING
    brand: str = ""
    attempts: tuple[Attempt, ...] = ()
    version: int = 0

    def with_changes(self, **changes: Any) -> Notice:
        return replace(self, **changes)


@dataclass(frozen=True)
class SendFailed:
    """A provider refused attempt `index`; `retry` is the next provider's attempt, None when none is left."""

    index: int
    error: str
    retry: Attempt | None = None


NoticeEvent = SendResult | SendFailed


@dataclass(frozen=True)
class NoticeStep:
    notice: Notice
    changed: bool = True
    event: str | None = None  # notice.sent or notice.failed


def step(n: Notice, e: NoticeEvent) -> NoticeStep:
    """Apply one send outcome or receipt. Accepted: `sent`; refused with no provider left, or a
    receipt of a failure: `failed`. The attempts are recorded whatever the notice's status."""
    if isinstance(e, SendFailed):
        failed = record_send(n.attempts, SendResult(e.index, error=e.error)) or n.attempts
        attempts = (*failed, e.retry) if e.retry else failed
        return _moved(n, attempts, NoticeStatus.PENDING if e.retry else NoticeStatus.FAILED)
    recorded = record_send(n.attempts, e)
    if recorded is None:
        return NoticeStep(n, changed=False)
    if e.status in FAILED:
        return _moved(n, recorded, NoticeStatus.FAILED)
    return _moved(n, recorded, NoticeStatus.SENT if e.provider_id else n.status)


def _moved(n: Notice, attempts: tuple[Attempt, ...], status: NoticeStatus) -> NoticeStep:
    """The notice with its attempts; its status moves forward only (pending, sent, failed)."""
    order = list(NoticeStatus)
    if order.index(status) <= order.index(n.status):
        status = n.status
    made = f"notice.{status}" if status != n.status else None
    return NoticeStep(n.with_changes(attempts=attempts, status=status), event=made)
