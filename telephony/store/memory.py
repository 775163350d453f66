"""In-memory store for a first run and tests: one process, a lock, TTLs from an injectable clock.

Each gunicorn worker would have its own copy, so this store is for `python app.py` (one process,
threads) only; configuration refuses it in production.
"""

from __future__ import annotations

import heapq
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from telephony import factors
from telephony.approvals import KEPT_AFTER, Approval
from telephony.codes import CodeVault
from telephony.eventlog import EXPIRED, RETENTION, Claim, Delivery, Event, event_id, snapshot, transition_event
from telephony.factors import Factor, Judgement, Verdict
from telephony.lifecycle import CheckOutcome, apply_check
from telephony.limits import (
    Admission,
    CheckPolicy,
    Create,
    CreateApproval,
    CreateNotice,
    Outcome,
    Pumping,
    Rule,
    Save,
    SendPlan,
    Write,
    buckets,
)  # fmt: skip
from telephony.models import Verification, tag_of
from telephony.notices import Notice
from telephony.store import keys
from telephony.store.approval_record import from_approval_record, to_approval_record
from telephony.store.base import EXPIRY_GRACE, OUTBOX_LIMIT, OutboxEntry, Targets
from telephony.store.keys import KeyNames
from telephony.store.notice_record import from_notice_record, to_notice_record
from telephony.store.record import from_record, to_record


class MemoryStore:
    def __init__(self, *, clock: Callable[[], float] | None = None, names: KeyNames | None = None) -> None:
        self._clock = clock or time.time
        self.names = names or KeyNames()
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, str]] = {}
        self._latest: dict[str, tuple[str, float]] = {}
        self._docs: dict[str, dict[str, tuple[str, str]]] = {}  # kind -> SID -> (parent, JSON)
        self._outbox: deque[OutboxEntry] = deque(maxlen=OUTBOX_LIMIT)
        self._seen: dict[str, float] = {}
        self._opted_out: set[str] = set()
        self._timers: list[tuple[float, str]] = []  # a heap; entries a later schedule replaced are stale
        self._due: dict[str, float] = {}  # one timer per verification, as a Redis sorted set keeps it
        self._counters: dict[str, tuple[float, float]] = {}  # key -> (value, expires at)
        # Lifecycle events, as the Redis store keeps them (store/redis.py): written with each change
        # into an outbox, moved into the log by collect_events, delivered from there.
        self._approvals: dict[str, dict[str, str]] = {}  # id -> record (store/approval_record.py)
        self._notices: dict[str, dict[str, str]] = {}  # id -> record (store/notice_record.py)
        self._event_outbox: list[Event] = []
        self._expiries: list[tuple[float, str]] = []  # a heap of (expires at, id)
        self._stubs: dict[str, dict[str, str]] = {}  # id -> its record as created, until final or expired
        self._log: dict[str, Event] = {}  # event id -> event, in the order logged
        self._deliveries: dict[str, tuple[Delivery, str]] = {}  # key -> (delivery, lease token)
        self._due_deliveries: dict[str, float] = {}  # key -> when due (or its lease ends)
        self._queues: dict[tuple[str, str], deque[str]] = {}  # (target, resource) -> keys, oldest first
        # TOTP factors, named as the Redis store names their keys (store/keys.py).
        self._factors: dict[str, dict[str, str]] = {}  # factor id -> record
        self._factor_index: dict[str, dict[str, int]] = {}  # index key -> factor id -> created ms
        self._challenges: dict[str, tuple[str, str, float]] = {}  # SID -> (factor id, JSON, kept until)

    def now(self) -> float:
        """The one clock of this store: expiry, windows and (through the service) cooldowns."""
        return self._clock()

    def _live(self, verification_id: str) -> dict[str, str] | None:
        record = self._records.get(verification_id)
        if record is not None and int(record["e"]) / 1000 <= self._clock():
            if int(record["e"]) / 1000 + EXPIRY_GRACE <= self._clock():  # kept a while for its expiry event
                del self._records[verification_id]
            return None
        return record

    def _emit(self, record: dict[str, str], resource: str, event_type: str) -> None:
        """Write an event of `record` (as it is after the change) into the outbox: callers hold the lock."""
        shown = snapshot(record)
        self._stubs.pop(resource, None)  # a final status: no expiry event follows (outbox_settled's twin)
        self._event_outbox.append(Event(event_id(resource, event_type), event_type, round(self._clock(), 3),
                                        resource, shown.get("g", ""), shown))  # fmt: skip

    def create(self, v: Verification) -> Verification:
        with self._lock:
            return self._create(v)

    def _create(self, v: Verification) -> Verification:
        now = round(self._clock(), 3)
        v = v.with_changes(created_at=now, expires_at=now + round(v.expires_at - v.created_at, 3))
        self._records[v.id] = {**to_record(v), "n": self.names.number(v.to)}
        if not v.test:  # the prefix whose approvals count for SMS pumping (check.lua reads `q` too)
            self._records[v.id]["q"] = self.names.prefix(v.to)
        self._latest[self.names.latest(v.to, scope=v.scope)] = (v.id, v.expires_at)
        heapq.heappush(self._expiries, (v.expires_at, v.id))
        self._stubs[v.id] = snapshot(self._records[v.id])
        return v

    # Counters: fixed windows that start at the first hit, as INCR + PEXPIRE do in Redis.
    def _value(self, key: str) -> tuple[float, float]:
        value, expires = self._counters.get(key, (0, 0.0))
        return (value, expires - self._clock()) if expires > self._clock() else (0, 0.0)

    def _incr(self, key: str, window: float, by: float = 1) -> float:
        value, left = self._value(key)
        self._counters[key] = (value + by, self._clock() + (left if value else window))
        return value + by

    def admit(self, plan: SendPlan, write: Write | None = None) -> Admission:
        with self._lock:
            refused = self._refusal(plan, write)
            if refused is not None:
                return refused
            pump_key = self._pump_key(plan.number)
            for key, rule in self._counters_of(plan):
                self._incr(key, rule.window)
            if plan.pumping:
                pump = plan.pumping
                bucket, _ = buckets(self._clock(), pump.window)
                self._incr(f"{pump_key}:s{bucket}", 2 * pump.window)
                if self._pumping(plan.number, pump):  # this send tips the prefix over
                    self._counters[self.names.pump_block(plan.number)] = (1, self._clock() + pump.cooloff)
            if isinstance(write, CreateApproval):
                return Admission(Outcome.OK, approval=self._create_approval(write.approval))
            if isinstance(write, CreateNotice):
                return Admission(Outcome.OK, notice=self._create_notice(write.notice))
            if isinstance(write, Create):
                return Admission(Outcome.OK, verification=self._create(write.verification))
            if isinstance(write, Save):
                return Admission(Outcome.OK, verification=self._save(write.verification))
            return Admission(Outcome.OK)

    def _refusal(self, plan: SendPlan, write: Write | None) -> Admission | None:
        """Why `plan` cannot go ahead, or None; looks without touching anything."""
        number = plan.number
        if isinstance(write, Save):
            record = self._live(write.verification.id)
            if record is None:
                return Admission(Outcome.MISSING)
            if int(record["v"]) != write.verification.version:
                return Admission(Outcome.CONFLICT)
        if plan.check_opt_out and number in self._opted_out:
            return Admission(Outcome.OPTED_OUT)
        blocked, left = self._value(self.names.pump_block(number))
        if blocked:
            return Admission(Outcome.PUMPING, _seconds(left))
        for key, rule in self._counters_of(plan):
            value, left = self._value(key)
            if value >= rule.limit:
                return Admission(Outcome.LIMITED, _seconds(left))
        if plan.pumping and self._pumping(number, plan.pumping):
            return Admission(Outcome.PUMPING, plan.pumping.cooloff)
        return None

    def _pumping(self, number: str, pump: Pumping) -> bool:
        bucket, weight = buckets(self._clock(), pump.window)
        key = self._pump_key(number)
        sends = self._value(f"{key}:s{bucket}")[0] + weight * self._value(f"{key}:s{bucket - 1}")[0]
        approved = self._value(f"{key}:a{bucket}")[0] + weight * self._value(f"{key}:a{bucket - 1}")[0]
        return pump.tripped(sends, approved)

    def _pump_key(self, number: str) -> str:
        return f"{keys.pump(self.names.tag(number))}:{self.names.prefix(number)}"

    def _counters_of(self, plan: SendPlan) -> list[tuple[str, Rule]]:
        names = self.names
        number = [(names.number_limit(plan.number, r.window, plan.kind), r) for r in plan.number_rules]
        prefix = [(names.prefix_limit(plan.number, r.window), r) for r in plan.prefix_rules]
        others = [(keys.scope_limit(c.scope, c.rule.window), c.rule) for c in plan.others]
        return number + prefix + others

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

    def save(
        self, v: Verification, previous: Verification | None = None, event: str | None = None
    ) -> Verification | None:
        with self._lock:
            record = self._live(v.id)
            if record is None or int(record["v"]) != v.version:
                return None
            saved = self._save(v)
            if event:
                self._emit(self._records[v.id], v.id, event)
            return saved

    def _save(self, v: Verification) -> Verification:
        saved = v.with_changes(version=v.version + 1)
        self._records[v.id] = {**self._records[v.id], **to_record(saved)}  # keeps fields outside the model
        return saved

    def check(
        self, verification_id: str, candidate_macs: list[str], policy: CheckPolicy | None = None
    ) -> tuple[CheckOutcome, Verification | None]:
        with self._lock:
            record = self._live(verification_id)
            if record is None:
                return CheckOutcome.MISSING, None
            current = from_record(record, verification_id)
            if policy and policy.service is not None and current.service != policy.service:
                return CheckOutcome.MISSING, None
            if policy and policy.purpose is not None and current.purpose != policy.purpose:
                return CheckOutcome.OTHER_PURPOSE, current
            fails = policy.fails if policy else None
            fails_key = f"{keys.fails(self.names.tag(current.to))}:{self.names.number(current.to)}"
            if fails and current.pending and self._value(fails_key)[0] >= fails.limit:
                return CheckOutcome.LOCKED, current
            outcome, updated = apply_check(current, CodeVault.same(current.mac, candidate_macs), self._clock())
            if updated is not current:
                updated = updated.with_changes(version=current.version + 1)
                self._records[verification_id] = {**record, **to_record(updated)}
                made = transition_event(current.status, updated.status)
                if made:
                    self._emit(self._records[verification_id], verification_id, made)
            if outcome is CheckOutcome.WRONG and fails:
                self._incr(fails_key, fails.window)
            elif outcome is CheckOutcome.APPROVED:
                self._counters.pop(fails_key, None)
                if policy and policy.pump_window and "q" in record:
                    bucket, _ = buckets(self._clock(), policy.pump_window)
                    self._incr(f"{self._pump_key(current.to)}:a{bucket}", 2 * policy.pump_window)
            return outcome, updated

    def latest_for(self, e164: str, scope: str = "") -> str | None:
        with self._lock:
            key = self.names.latest(e164, scope=scope)
            found = self._latest.get(key)
            if found is None or found[1] <= self._clock():
                self._latest.pop(key, None)
                return None
            return found[0]

    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        with self._lock:
            now = self._clock()
            if len(self._seen) > 10_000:  # drop expired entries now and then, not on every call
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            key = self.names.event(scope, event_id)
            if self._seen.get(key, 0) > now:
                return False
            self._seen[key] = now + ttl
            return True

    def remember(self, scope: str, event_id: str, *, ttl: int) -> None:
        with self._lock:
            self._seen[self.names.event(scope, event_id)] = self._clock() + ttl

    def forget(self, scope: str, event_id: str) -> None:
        with self._lock:
            self._seen.pop(self.names.event(scope, event_id), None)

    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        with self._lock:
            (self._opted_out.add if opted_out else self._opted_out.discard)(e164)

    def rekey_opt_outs(self) -> int:
        return 0  # opt-outs are kept by number here: no key name to change

    def schedule(self, verification_id: str, at: float) -> None:
        with self._lock:
            self._due[verification_id] = at
            heapq.heappush(self._timers, (at, verification_id))

    def claim_due(self, now: float, limit: int) -> list[str]:
        with self._lock:
            due: list[str] = []
            while self._timers and self._timers[0][0] <= now and len(due) < limit:
                at, verification_id = heapq.heappop(self._timers)
                if self._due.get(verification_id) == at:  # else a later schedule replaced it
                    del self._due[verification_id]
                    due.append(verification_id)
            return due

    def outbox_push(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._outbox.appendleft(dict(entry))

    def outbox_list(self) -> list[OutboxEntry]:
        with self._lock:
            return [dict(e) for e in self._outbox]

    def doc_put(self, kind: str, sid: str, text: str, parent: str = "") -> None:
        with self._lock:
            self._docs.setdefault(kind, {})[sid] = (parent, text)

    def doc_get(self, kind: str, sid: str) -> str | None:
        with self._lock:
            found = self._docs.get(kind, {}).get(sid)
            return None if found is None else found[1]

    def doc_list(self, kind: str, parent: str | None = None) -> list[str]:
        with self._lock:
            return [text for owner, text in self._docs.get(kind, {}).values() if parent is None or owner == parent]

    def doc_delete(self, kind: str, sid: str) -> bool:
        with self._lock:
            return self._docs.get(kind, {}).pop(sid, None) is not None

    # --- approval requests -----------------------------------------------------------------------

    def _create_approval(self, a: Approval) -> Approval:
        now = round(self._clock(), 3)
        a = a.with_changes(created_at=now, expires_at=now + round(a.expires_at - a.created_at, 3))
        self._approvals[a.id] = to_approval_record(a)
        heapq.heappush(self._expiries, (a.expires_at, a.id))
        self._stubs[a.id] = snapshot(self._approvals[a.id])
        return a

    def _approval(self, approval_id: str) -> dict[str, str] | None:
        record = self._approvals.get(approval_id)
        if record is not None and int(record["e"]) / 1000 + KEPT_AFTER <= self._clock():
            del self._approvals[approval_id]
            return None
        return record

    def approval_get(self, approval_id: str) -> Approval | None:
        with self._lock:
            record = self._approval(approval_id)
            return from_approval_record(record, approval_id) if record else None

    def approval_save(self, a: Approval, previous: Approval, event: str | None = None) -> Approval | None:
        with self._lock:
            self._approval(a.id)  # forgets it once past KEPT_AFTER
            saved = a.with_changes(version=a.version + 1)
            written = self._compare_and_set(self._approvals, a.id, a.version, to_approval_record(saved), event)
            return saved if written else None

    def _compare_and_set(
        self, table: dict[str, dict[str, str]], resource: str, version: int, record: dict[str, str], event: str | None
    ) -> bool:
        """save.lua's twin: write `record` only over `version`, never once expired, with its event."""
        current = table.get(resource)
        if current is None or int(current["v"]) != version or int(current["e"]) / 1000 <= self._clock():
            return False
        table[resource] = record
        if event:
            self._emit(record, resource, event)
        return True

    def approvals_for(self, e164: str) -> list[Approval]:
        with self._lock:
            kept = [i for i, r in self._approvals.items() if r["t"] == e164 and self._approval(i) is not None]
            return sorted((from_approval_record(self._approvals[i], i) for i in kept), key=lambda a: a.expires_at)

    # --- notices -------------------------------------------------------------------------------

    def _create_notice(self, n: Notice) -> Notice:
        now = round(self._clock(), 3)
        n = n.with_changes(created_at=now, expires_at=now + round(n.expires_at - n.created_at, 3))
        self._notices[n.id] = to_notice_record(n)
        return n

    def notice_get(self, notice_id: str) -> Notice | None:
        with self._lock:
            record = self._notices.get(notice_id)
            if record is not None and int(record["e"]) / 1000 <= self._clock():
                del self._notices[notice_id]
                return None
            return from_notice_record(record, notice_id) if record else None

    def notice_save(self, n: Notice, previous: Notice, event: str | None = None) -> Notice | None:
        with self._lock:
            saved = n.with_changes(version=n.version + 1)
            written = self._compare_and_set(self._notices, n.id, n.version, to_notice_record(saved), event)
            return saved if written else None

    # --- TOTP factors and their /v2 challenges ---------------------------------------------------

    def factor_create(self, factor: Factor) -> None:
        with self._lock:
            name = self.names.identity(factor.identity, factor.service)
            self._factors[factor.id] = {**factors.to_record(factor), "n": name}
            index = keys.factor_index(tag_of(factor.id), name)
            self._factor_index.setdefault(index, {})[factor.id] = round(factor.created_at * 1000)

    def factor_get(self, factor_id: str) -> Factor | None:
        with self._lock:
            record = self._factors.get(factor_id)
            return factors.from_record(record, factor_id) if record else None

    def factor_list(self, identity: str, scope: str = "") -> list[Factor]:
        with self._lock:
            listed: dict[str, int] = {}
            for index in self.names.generations:
                listed.update(self._factor_index.get(self.names.factor_index(identity, scope, index), {}))
            ordered = sorted(listed, key=lambda fid: (listed[fid], fid))
            return [factors.from_record(self._factors[fid], fid) for fid in ordered if fid in self._factors]

    def factor_attempt(
        self, factor_id: str, step: int | None, now: float, *, verified_only: bool = False
    ) -> tuple[Judgement, Factor | None]:
        with self._lock:
            record = self._factors.get(factor_id)
            if record is None:
                return Judgement(Verdict.MISSING), None
            judged = factors.judge(record, step, round(now * 1000), verified_only=verified_only)
            if judged.event:
                self._emit({**record, **judged.changes}, factor_id, judged.event)
            record.update(judged.changes)
            return judged, factors.from_record(record, factor_id)

    def factor_delete(self, factor_id: str) -> bool:
        with self._lock:
            record = self._factors.pop(factor_id, None)
            if record is None:
                return False
            self._emit(record, factor_id, factors.FACTOR_DELETED)
            self._factor_index.get(keys.factor_index(tag_of(factor_id), record["n"]), {}).pop(factor_id, None)
            return True

    def challenge_put(self, challenge_id: str, factor_id: str, text: str, keep_until: float) -> None:
        with self._lock:
            now = self._clock()
            self._challenges = {sid: kept for sid, kept in self._challenges.items() if kept[2] > now}
            self._challenges[challenge_id] = (factor_id, text, keep_until)

    def challenge_get(self, challenge_id: str) -> str | None:
        with self._lock:
            found = self._challenges.get(challenge_id)
            return found[1] if found and found[2] > self._clock() else None

    def challenge_list(self, factor_id: str) -> list[str]:
        with self._lock:
            now = self._clock()
            return [text for owner, text, until in self._challenges.values() if owner == factor_id and until > now]

    # --- lifecycle events ------------------------------------------------------------------------

    def collect_events(self, targets: Targets, limit: int = 500) -> list[Event]:
        with self._lock:
            now = self._clock()
            while self._expiries and self._expiries[0][0] <= now:
                _, vid = heapq.heappop(self._expiries)
                approval = vid.startswith("ap_")
                record = (self._approvals if approval else self._records).get(vid)
                stub = self._stubs.pop(vid, None)
                if record is None and stub is not None:  # gone before any worker ran (drain.lua's twin)
                    record = {**stub, "s": "expired"} if approval else stub
                elif record is None or record["s"] != "pending" or int(record["e"]) / 1000 > now:
                    continue
                elif approval:  # its status is `expired` from now on
                    record.update(s="expired", v=str(int(record["v"]) + 1))
                self._emit(record, vid, "approval.expired" if approval else EXPIRED)
            taken, self._event_outbox = self._event_outbox[:limit], self._event_outbox[limit:]
        fresh = [replace(e, targets=tuple(targets(e))) for e in taken if e.id not in self._log]  # reads docs: no lock
        with self._lock:
            now = self._clock()
            for e in fresh:
                self._log[e.id] = e
                for target in e.targets:
                    key = f"{e.id}|{target}"
                    self._deliveries[key] = (Delivery(), "")
                    queue = self._queues.setdefault((target, e.resource), deque())
                    queue.append(key)
                    if len(queue) == 1:
                        self._due_deliveries[key] = now
            for eid in [i for i, e in self._log.items() if e.at <= now - RETENTION]:
                for target in self._log.pop(eid).targets:
                    self._deliveries.pop(f"{eid}|{target}", None)
            return fresh

    def claim_deliveries(self, lease: float, limit: int) -> list[Claim]:
        with self._lock:
            now, token = self._clock(), secrets.token_hex(8)
            due = sorted((at, key) for key, at in self._due_deliveries.items() if at <= now)[:limit]
            claims = []
            for _, key in due:
                event = self._log.get(key.partition("|")[0])
                if event is None or key not in self._deliveries:
                    del self._due_deliveries[key]
                    continue
                delivery = self._deliveries[key][0]
                self._deliveries[key] = (delivery, token)
                self._due_deliveries[key] = now + lease
                claims.append(Claim(key, event, delivery, token))
            return claims

    def finish_delivery(self, claim: Claim, outcome: Delivery) -> bool:
        with self._lock:
            held = self._deliveries.get(claim.key)
            if held is None or held[1] != claim.token:
                return False
            self._deliveries[claim.key] = (outcome, claim.token)
            if not outcome.final and outcome.next_attempt_at is not None:
                self._due_deliveries[claim.key] = outcome.next_attempt_at
                return True
            self._due_deliveries.pop(claim.key, None)
            queue = self._queues.get((claim.target, claim.event.resource), deque())
            if claim.key in queue:
                queue.remove(claim.key)
            if queue:
                self._due_deliveries[queue[0]] = self._clock()
            else:
                self._queues.pop((claim.target, claim.event.resource), None)
            return True

    def list_events(self, after: str | None, limit: int) -> tuple[list[tuple[Event, Delivery | None]], bool]:
        with self._lock:
            ids = list(self._log)
            start = ids.index(after) + 1 if after in self._log else 0
            page = ids[start : start + limit]
            shown = [(self._log[i], held[0] if (held := self._deliveries.get(f"{i}|")) else None) for i in page]
            return shown, start + limit < len(ids)

    def ping(self) -> bool:
        return True


def _seconds(left: float) -> int:
    return max(1, int(-(-left // 1)))
