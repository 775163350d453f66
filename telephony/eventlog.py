"""Lifecycle events as the application learns them: the outbox's records, the delivery state of
each, the retry schedule and how a receiver's answer is judged. Pure: the stores keep these, the
delivery worker (telephony/delivery.py) acts on them.

How an event is never lost: the store writes it in the same atomic step as the change that causes
it (the verification's own Lua script, or the memory store's lock), into an outbox next to the
record (the same Redis Cluster slot). The worker later moves it into the event log, once however
many workers try (the log keeps the first copy of each id), and delivers it from there.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from telephony.models import Status

# Every type the contract lists; the verification ones are the final statuses and expiry.
VERIFICATION_EVENTS = {
    Status.APPROVED: "verification.approved",
    Status.CANCELED: "verification.canceled",
    Status.FAILED: "verification.failed",
    Status.MAX_ATTEMPTS: "verification.max_attempts_reached",
}
EXPIRED = "verification.expired"
EVENT_TYPES = (
    *VERIFICATION_EVENTS.values(), EXPIRED,
    "approval.approved", "approval.denied", "approval.expired", "approval.canceled",
    "factor.verified", "factor.deleted", "notice.sent", "notice.failed",
)  # fmt: skip

# A record's fields an event never carries: the code's MAC and sealed copy, keyed names, plays.
HIDDEN_FIELDS = frozenset({"h", "x", "n", "q", "p"})
RETENTION = 3 * 86400  # seconds the log keeps an event (GET /v1/events shows the last 3 days)
# Seconds before each retry (Svix's schedule, as the contract gives it): 8 attempts over ~28 h.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2  # each wait is drawn from +-20 % of the schedule's, so failed receivers are not hit in step
LEASE = 60.0  # seconds a claimed delivery is another worker's: well over one attempt's 10 s timeout
MAIN_TARGET = ""  # WEBHOOK_URL; a /v2 webhook's target is its YW SID
EVENT_ID = re.compile(r"evt_[A-Za-z0-9_-]{1,80}")  # fullmatch


def transition_event(before: Status, after: Status) -> str | None:
    """The event a status change makes: leaving `pending` for a final status.

    The Redis twin is in store/lua/check.lua (a check approves or spends the last attempt)."""
    if before == Status.PENDING and after != Status.PENDING:
        return VERIFICATION_EVENTS[after]
    return None


def event_id(resource_id: str, event_type: str) -> str:
    """`evt_` + the resource id's random part + what happened: each resource has each of its final
    events once, so the id is unique, and a copy written twice is recognised as the same event.
    The Lua twin is in store/lua/lib/outbox.lua."""
    return f"evt_{resource_id[3:]}_{event_type.partition('.')[2]}"


@dataclass(frozen=True)
class Event:
    """One event as stored: `record` is the resource's record after the change, minus HIDDEN_FIELDS."""

    id: str
    type: str
    at: float  # epoch seconds, the store's clock
    resource: str  # the verification (approval, factor, notice) id
    service: str = ""  # the /v2 service SID, when it belongs to one
    record: dict[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # where it is delivered (MAIN_TARGET, YW SIDs), set by the log

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = round(self.at * 1000)
        data["targets"] = list(self.targets)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Event:
        data = json.loads(text)
        return cls(
            id=data["id"], type=data["type"], at=int(data["at"]) / 1000, resource=data["resource"],
            service=data.get("service") or "", record=dict(data.get("record") or {}),
            targets=tuple(data.get("targets") or ()),
        )  # fmt: skip


def snapshot(record: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in record.items() if k not in HIDDEN_FIELDS}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to one target, as GET /v1/events shows it."""

    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status: int | None = None  # the receiver's HTTP status; None: no answer (timeout, refused)
    next_attempt_at: float | None = None
    error: str = ""

    @property
    def final(self) -> bool:
        return self.status != DeliveryStatus.PENDING

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, "")}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        data: dict[str, Any] = json.loads(text)
        return cls(
            status=DeliveryStatus(data.get("status", "pending")), attempts=int(data.get("attempts", 0)),
            last_status=data.get("last_status"), next_attempt_at=data.get("next_attempt_at"),
            error=data.get("error", ""),
        )  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds for LEASE seconds: no other worker attempts it meanwhile."""

    key: str  # "<event id>|<target>"
    event: Event
    delivery: Delivery
    token: str  # proves the lease when the outcome is written

    @property
    def target(self) -> str:
        return self.key.partition("|")[2]


def outcome(
    before: Delivery, status: int | None, error: str, now: float, *,
    schedule: tuple[float, ...] = RETRY_SCHEDULE, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Delivery:  # fmt: skip
    """The delivery after one attempt answered `status` (None: no answer, `error` says why).

    2xx delivers; 410 stops at once (the receiver says the endpoint is gone); anything else is
    retried on the schedule with jitter (a longer Retry-After is honoured, up to the longest
    wait), and fails once the schedule is spent. Redirects are not followed: a 3xx is a failure."""
    attempts = before.attempts + 1
    if status is not None and 200 <= status < 300:
        return Delivery(DeliveryStatus.DELIVERED, attempts, status)
    why = error or f"HTTP {status}"
    if status == 410 or attempts > len(schedule):
        return Delivery(DeliveryStatus.FAILED, attempts, status, error=why[:200])
    wait = schedule[attempts - 1] * (1 + JITTER * (2 * (rng or random).random() - 1))
    if retry_after is not None:
        wait = max(wait, min(retry_after, max(schedule)))
    return Delivery(DeliveryStatus.PENDING, attempts, status, round(now + wait, 3), why[:200])
