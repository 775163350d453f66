"""In-memory store for a first run and tests: one process, a lock, TTLs from an injectable clock.

Each gunicorn worker would have its own copy, so this store is for `python app.py` (one process,
threads) only; configuration refuses it in production.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable

from telephony.codes import CodeVault
from telephony.lifecycle import CheckOutcome, Receipt, apply_check, quick_receipt
from telephony.limits import Admission, CheckPolicy, Rule, SendPlan, buckets
from telephony.models import Verification, from_record, to_record
from telephony.store import keys
from telephony.store.base import OUTBOX_LIMIT


class MemoryStore:
    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, str]] = {}
        self._latest: dict[str, tuple[str, float]] = {}
        self._outbox: deque[dict] = deque(maxlen=OUTBOX_LIMIT)
        self._seen: dict[tuple[str, str], float] = {}
        self._opted_out: set[str] = set()
        self._timers: list[tuple[float, str]] = []  # a heap; entries a later schedule replaced are stale
        self._due: dict[str, float] = {}  # one timer per verification, as a Redis sorted set keeps it
        self._counters: dict[str, tuple[float, float]] = {}  # key -> (value, expires at)

    def _live(self, verification_id: str) -> dict[str, str] | None:
        record = self._records.get(verification_id)
        if record is not None and int(record["e"]) / 1000 <= self._clock():
            del self._records[verification_id]
            return None
        return record

    def create(self, v: Verification) -> None:
        with self._lock:
            self._create(v)

    def _create(self, v: Verification) -> None:
        self._records[v.id] = to_record(v)
        self._latest[v.to] = (v.id, v.expires_at)

    # Counters: fixed windows that start at the first hit, as INCR + PEXPIRE do in Redis.
    def _value(self, key: str) -> tuple[float, float]:
        value, expires = self._counters.get(key, (0, 0.0))
        return (value, expires - self._clock()) if expires > self._clock() else (0, 0.0)

    def _incr(self, key: str, window: float, by: float = 1) -> float:
        value, left = self._value(key)
        self._counters[key] = (value + by, self._clock() + (left if value else window))
        return value + by

    def apply_receipt(self, verification_id: str, receipt: Receipt) -> tuple[str, Verification | None]:
        with self._lock:
            record = self._live(verification_id)
            if record is None:
                return "missing", None
            current = from_record(record, verification_id)
            result = quick_receipt(current, receipt)
            if result is None:
                return "escalate", current
            if result.note:
                return "ignored", current
            saved = result.verification.with_changes(version=current.version + 1)
            self._records[verification_id] = {**record, **to_record(saved)}
            return "updated", saved

    def admit(self, plan: SendPlan, now: float, create: Verification | None = None) -> Admission:
        with self._lock:
            number = plan.number
            if plan.check_opt_out and number in self._opted_out:
                return Admission("opted_out")
            blocked, left = self._value(keys.pump_block(number))
            if blocked:
                return Admission("pumping", _seconds(left))
            counters = _counters(plan)
            for key, rule in counters:
                value, left = self._value(key)
                if value >= rule.limit:
                    return Admission("limited", _seconds(left))
            if plan.pumping:
                pump = plan.pumping
                bucket, weight = buckets(now, pump.window)
                sends = self._value(keys.pump_sends(number, bucket))[0] + weight * self._value(
                    keys.pump_sends(number, bucket - 1))[0]  # fmt: skip
                approved = self._value(keys.pump_approvals(number, bucket))[0] + weight * self._value(
                    keys.pump_approvals(number, bucket - 1))[0]  # fmt: skip
                if sends >= pump.min_sends and approved < sends * pump.min_ratio:
                    self._counters[keys.pump_block(number)] = (1, self._clock() + pump.cooloff)
                    return Admission("pumping", pump.cooloff)
                self._incr(keys.pump_sends(number, bucket), 2 * pump.window)
            for key, rule in counters:
                self._incr(key, rule.window)
            if create is not None:
                self._create(create)
            return Admission("ok")

    def discard(self, v: Verification) -> None:
        with self._lock:
            self._records.pop(v.id, None)
            if self._latest.get(v.to, ("",))[0] == v.id:
                del self._latest[v.to]

    def get(self, verification_id: str) -> Verification | None:
        with self._lock:
            record = self._live(verification_id)
            return from_record(record, verification_id) if record else None

    def play(self, verification_id: str) -> tuple[Verification | None, int]:
        with self._lock:
            record = self._live(verification_id)
            if record is None:
                return None, 0
            record["p"] = str(int(record.get("p", "0")) + 1)
            return from_record(record, verification_id), int(record["p"])

    def save(self, v: Verification, previous: Verification | None = None) -> Verification | None:
        with self._lock:
            record = self._live(v.id)
            if record is None or int(record["v"]) != v.version:
                return None
            saved = v.with_changes(version=v.version + 1)
            self._records[v.id] = {**record, **to_record(saved)}  # keeps counters outside the model
            return saved

    def check(
        self, verification_id: str, candidate_macs: list[str], policy: CheckPolicy | None = None
    ) -> tuple[CheckOutcome, Verification | None]:
        with self._lock:
            record = self._live(verification_id)
            if record is None:
                return CheckOutcome.MISSING, None
            current = from_record(record, verification_id)
            fails = policy.fails if policy else None
            if fails and current.pending and self._value(keys.fails(current.to))[0] >= fails.limit:
                return CheckOutcome.LOCKED, current
            outcome, updated = apply_check(current, CodeVault.same(current.mac, candidate_macs))
            if updated is not current:
                updated = updated.with_changes(version=current.version + 1)
                self._records[verification_id] = {**record, **to_record(updated)}
            if outcome is CheckOutcome.WRONG and fails:
                self._incr(keys.fails(current.to), fails.window)
            elif outcome is CheckOutcome.APPROVED:
                self._counters.pop(keys.fails(current.to), None)
                if policy and policy.pump_window:
                    self._incr(keys.pump_approvals(current.to, policy.bucket), 2 * policy.pump_window)
            return outcome, updated

    def latest_for(self, e164: str) -> str | None:
        with self._lock:
            found = self._latest.get(e164)
            if found is None or found[1] <= self._clock():
                self._latest.pop(e164, None)
                return None
            return found[0]

    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        with self._lock:
            now = self._clock()
            if len(self._seen) > 10_000:  # drop expired entries now and then, not on every call
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            if self._seen.get((scope, event_id), 0) > now:
                return False
            self._seen[(scope, event_id)] = now + ttl
            return True

    def opted_out(self, e164: str) -> bool:
        with self._lock:
            return e164 in self._opted_out

    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        with self._lock:
            (self._opted_out.add if opted_out else self._opted_out.discard)(e164)

    def schedule(self, verification_id: str, at: float) -> None:
        with self._lock:
            self._due[verification_id] = at
            heapq.heappush(self._timers, (at, verification_id))

    def claim_due(self, now: float, limit: int) -> list[str]:
        with self._lock:
            due = []
            while self._timers and self._timers[0][0] <= now and len(due) < limit:
                at, verification_id = heapq.heappop(self._timers)
                if self._due.get(verification_id) == at:  # else a later schedule replaced it
                    del self._due[verification_id]
                    due.append(verification_id)
            return due

    def outbox_push(self, entry: dict) -> None:
        with self._lock:
            self._outbox.appendleft(dict(entry))

    def outbox_list(self) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._outbox]

    def ping(self) -> bool:
        return True


def _counters(plan: SendPlan) -> list[tuple[str, Rule]]:
    number = [(keys.number_limit(plan.number, r.window), r) for r in plan.number_rules]
    prefix = [(keys.prefix_limit(plan.number, r.window), r) for r in plan.prefix_rules]
    others = [(keys.scope_limit(c.scope, c.rule.window), c.rule) for c in plan.others]
    return number + prefix + others


def _seconds(left: float) -> int:
    return max(1, int(-(-left // 1)))
