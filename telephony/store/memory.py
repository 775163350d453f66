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
from telephony.lifecycle import CheckOutcome, apply_check
from telephony.models import Verification, from_record, to_record
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
        self._timers: list[tuple[float, str]] = []

    def _live(self, verification_id: str) -> dict[str, str] | None:
        record = self._records.get(verification_id)
        if record is not None and float(record["e"]) <= self._clock():
            del self._records[verification_id]
            return None
        return record

    def create(self, v: Verification) -> None:
        with self._lock:
            self._records[v.id] = to_record(v)
            self._latest[v.to] = (v.id, v.expires_at)

    def get(self, verification_id: str) -> Verification | None:
        with self._lock:
            record = self._live(verification_id)
            return from_record(record) if record else None

    def save(self, v: Verification) -> Verification | None:
        with self._lock:
            record = self._live(v.id)
            if record is None or int(record["ver"]) != v.version:
                return None
            saved = v.with_changes(version=v.version + 1)
            self._records[v.id] = to_record(saved)
            return saved

    def check(self, verification_id: str, candidate_macs: list[str]) -> tuple[CheckOutcome, Verification | None]:
        with self._lock:
            record = self._live(verification_id)
            if record is None:
                return CheckOutcome.MISSING, None
            current = from_record(record)
            outcome, updated = apply_check(current, CodeVault.same(current.mac, candidate_macs))
            if updated is not current:
                updated = updated.with_changes(version=current.version + 1)
                self._records[verification_id] = to_record(updated)
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
            heapq.heappush(self._timers, (at, verification_id))

    def claim_due(self, now: float, limit: int) -> list[str]:
        with self._lock:
            due = []
            while self._timers and self._timers[0][0] <= now and len(due) < limit:
                due.append(heapq.heappop(self._timers)[1])
            return due

    def outbox_push(self, entry: dict) -> None:
        with self._lock:
            self._outbox.appendleft(dict(entry))

    def outbox_list(self) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._outbox]

    def ping(self) -> bool:
        return True
