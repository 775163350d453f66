"""Redis store: each operation that must be atomic is one Lua script (telephony/store/lua/) or one
MULTI transaction. Times that decide expiry and windows come from the server's clock (TIME).

Keys (named in store/keys.py; `<n>` and `<q>` are keyed names of a number and of its prefix):
  otp:{tag}:v:<id's random part>  hash, one verification (`store/record.py`), PEXPIREAT its expiry
  otp:{tag}:n:<n>           string, id of the number's newest verification, same expiry
  otp:{tag}:o:<n>           string, present while the number is opted out of SMS (no expiry)
  otp:{tag}:f               hash, <n> -> "count|until ms": wrong codes per number across its verifications
  otp:{tag}:l:s<window>:<n> counter, sends to the number (r<window>: keyword replies)
  otp:{tag}:l:p<window>:<q> counter, sends to the prefix
  otp:{tag}:p               hash, <q>:s<bucket> and <q>:a<bucket>: each prefix's sends and approvals
  otp:{tag}:b:<q>           string, present while the prefix is blocked for SMS pumping
  otp:{tag}:e:<n or id>:<event>  string, an event already handled (webhook de-duplication)
  otp:{<kind>:<name>}:lim:<window>  counter, sends per client IP, API key or country
  otp:{tag}:ev              list, events written with the tag's changes (the outbox), until logged
  otp:{tag}:x               sorted set, the tag's verification ids by expiry (for expiry events)
  otp:{tag}:nt:<id's random part>  hash, one notice (`store/notice_record.py`), PEXPIREAT when forgotten
  otp:{tag}:tf:<id's random part>  hash, one TOTP factor (telephony/factors.py); `tag` is its identity's
  otp:{tag}:fi:<identity name>     sorted set, the identity's factor ids by creation
  otp:{tag}:yc:<SID's random part> string, a /v2 challenge (JSON), kept a day past its expiry
  otp:{tag}:fc:<factor's random part>  sorted set, the factor's challenge SIDs by when they are forgotten
  otp:{events}:…            the event log and its deliveries (store/keys.py), one slot
  otp:timers                sorted set, verification ids scored by when their fallback is due
  otp:dev:outbox            list, development outbox (console provider), newest first
`tag` is a keyed digest of the number's prefix, also embedded in the verification id, so every key
of one number and of its verifications hashes to one Redis Cluster slot and scripts may touch several.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import redis
from redis.cluster import RedisCluster

from telephony import factors
from telephony.approvals import KEPT_AFTER, Approval
from telephony.errors import StoreUnavailable
from telephony.eventlog import RETENTION, Claim, Delivery, Event
from telephony.factors import MAX_WRONG, WRONG_WINDOW, Factor, Judgement, Verdict
from telephony.lifecycle import CheckOutcome
from telephony.limits import (
    Admission,
    CheckPolicy,
    Create,
    CreateApproval,
    CreateNotice,
    Outcome,
    Rule,
    Save,
    SendPlan,
    Write,
)  # fmt: skip
from telephony.models import Verification, tag_of
from telephony.notices import Notice
from telephony.store import keys
from telephony.store.approval_record import from_approval_record, to_approval_record
from telephony.store.base import EXPIRY_GRACE, OUTBOX_LIMIT, OutboxEntry, Targets
from telephony.store.connect import connect
from telephony.store.keys import KeyNames
from telephony.store.notice_record import from_notice_record, to_notice_record
from telephony.store.record import from_record, to_record

log = logging.getLogger(__name__)
T = TypeVar("T")
LUA = Path(__file__).with_name("lua")
CLOCK_SYNC = 30.0  # seconds between readings of the server's clock (the local one only measures the time between)
SWEEP_EVERY = 60.0  # seconds between the worker's scans for outboxes and expiries no hint named

_READS = frozenset({"get", "latest_for", "opted_out", "outbox_list", "doc_get", "doc_list", "list_events",
                    "approval_get", "approvals_for", "notice_get", "factor_get", "factor_list", "challenge_get",
                    "challenge_list"})


def _load_scripts() -> dict[str, str]:
    """The scripts by name; those that write events get lua/lib/outbox.lua in front (Lua scripts
    cannot include one another)."""
    lib = (LUA / "lib" / "outbox.lua").read_text()
    texts = {path.stem: path.read_text() for path in LUA.glob("*.lua")}
    return {name: (lib + text if "outbox_" in text else text) for name, text in texts.items()}


def _fail_closed(method: Callable[..., T]) -> Callable[..., T]:
    """Any Redis failure becomes `StoreUnavailable`: callers then send nothing, approve nothing.

    A write whose answer timed out may still have run (Redis queues the script behind a stall and
    runs it later): its outcome is unknown, and the error says so rather than "nothing happened".
    """
    unknown_on_timeout = method.__name__ not in _READS

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            unknown = unknown_on_timeout and isinstance(exc, redis.TimeoutError)
            log.warning("event=store.unavailable op=%s error=%s", method.__name__, type(exc).__name__)
            if unknown:
                raise StoreUnavailable(
                    "The store did not answer in time; this change may or may not have been made. "
                    "Read the verification (GET) before trying again.",
                    applied=None,
                ) from exc
            raise StoreUnavailable("The store cannot be reached; nothing was changed. Try again shortly.") from exc

    return wrapper


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStore:
    def __init__(self, client: redis.Redis | RedisCluster, names: KeyNames | None = None) -> None:
        self._redis = client
        self.names = names or KeyNames()
        self._scripts = {name: client.register_script(text) for name, text in _load_scripts().items()}
        self._offset: tuple[float, float] | None = None  # (server time - monotonic, when read)
        self._swept = 0.0  # monotonic time of the last sweep for unhinted tags

    @classmethod
    def from_url(cls, url: str, names: KeyNames | None = None) -> RedisStore:
        """One server, a Cluster or a Sentinel-watched master (store/connect.py)."""
        return cls(connect(url), names)

    def _run(self, name: str, script_keys: list[str], args: list[Any] | None = None) -> Any:
        """One Lua script (redis-py sends EVALSHA, and reloads the script after a Redis restart)."""
        return self._scripts[name](keys=script_keys, args=args or [])

    def now(self) -> float:
        """The server's clock, read every CLOCK_SYNC seconds and carried forward by the local
        monotonic clock in between: every web host and worker then agrees on expiry and cooldowns,
        whatever its own wall clock says. Falls back to the local clock while Redis cannot answer."""
        tick = time.monotonic()
        if self._offset is None or tick - self._offset[1] > CLOCK_SYNC:
            try:
                seconds, micros = self._redis.time()
            except redis.RedisError:
                return time.time() if self._offset is None else tick + self._offset[0]
            self._offset = (seconds + micros / 1e6 - time.monotonic(), tick)
        return tick + self._offset[0]

    @_fail_closed
    def create(self, v: Verification) -> Verification:
        admission = self._admit_number(SendPlan(v.to, (), (), (), None, False), Create(v))
        assert admission.verification is not None
        return admission.verification

    @_fail_closed
    def get(self, verification_id: str) -> Verification | None:
        record = cast(dict[str, str], self._redis.hgetall(keys.verification(verification_id)))
        if not record or int(record["e"]) <= self.now() * 1000:  # kept past expiry for its expiry event
            return None
        return from_record(record, verification_id)

    @_fail_closed
    def play(self, verification_id: str) -> tuple[Verification | None, int]:
        result = self._run("play", [keys.verification(verification_id)])
        return (from_record(_pairs(result[1]), verification_id), int(result[0])) if result[0] else (None, 0)

    @_fail_closed
    def save(
        self, v: Verification, previous: Verification | None = None, event: str | None = None
    ) -> Verification | None:
        saved = v.with_changes(version=v.version + 1)
        before = to_record(previous) if previous is not None else {}
        changed = self._compare_and_set(keys.verification(v.id), v.id, v.version, before, to_record(saved), event)
        return saved if changed else None

    @_fail_closed
    def check(
        self, verification_id: str, candidate_macs: list[str], policy: CheckPolicy | None = None
    ) -> tuple[CheckOutcome, Verification | None]:
        fails = policy.fails if policy else None
        cfg = {
            "fails_allowed": fails.limit if fails else 0,
            "fails_window": fails.window * 1000 if fails else 0,
            "pump_window": policy.pump_window * 1000 if policy and policy.pump_window else 0,
            "service": policy.service if policy and policy.service is not None else False,
            "purpose": policy.purpose if policy and policy.purpose is not None else False,
            "id": verification_id,
        }
        tag = tag_of(verification_id)
        script_keys = [keys.verification(verification_id), keys.fails(tag), keys.pump(tag), *_outbox_keys(tag)]
        result = self._run("check", script_keys, [json.dumps(cfg), *candidate_macs])
        outcome = CheckOutcome(result[0])
        v = from_record(_pairs(result[1]), verification_id) if len(result) > 1 else None
        if outcome is CheckOutcome.APPROVED or (outcome is CheckOutcome.WRONG and v and not v.pending):
            self._hint(tag, 0)
        return outcome, v

    @_fail_closed
    def admit(self, plan: SendPlan, write: Write | None = None) -> Admission:
        """The client and country scopes first (each checks and counts in its own slot), then the
        number's script, which checks, counts and writes the verification, or writes nothing. A
        scope that counted gives its count back when anything after it refuses."""
        scopes: dict[str, list[Rule]] = {}
        for counter in plan.others:
            scopes.setdefault(counter.scope, []).append(counter.rule)
        counted: list[list[str]] = []  # the keys of each scope that counted (one slot each)
        if scopes:
            calls = [
                ("admit_scope", [keys.scope_limit(scope, r.window) for r in rules],
                 [json.dumps([[r.limit, r.window * 1000] for r in rules])])
                for scope, rules in scopes.items()
            ]  # fmt: skip
            results = [(outcome, int(ms)) for outcome, ms in self._pipelined(calls)]
            counted = [
                call_keys for (_, call_keys, _), (outcome, _) in zip(calls, results, strict=True) if outcome == "ok"
            ]
            refused = [r for r in results if r[0] != "ok"]
            if refused:
                self._uncount(counted)
                return Admission(Outcome.LIMITED, _seconds(max(ms for _, ms in refused)))
        try:
            admission = self._admit_number(plan, write)
        except redis.RedisError:
            with contextlib.suppress(redis.RedisError):  # best effort: the number's script may have run
                self._uncount(counted)
            raise
        if not admission.ok:
            self._uncount(counted)
        return admission

    def _admit_number(self, plan: SendPlan, write: Write | None) -> Admission:
        names, number = self.names, plan.number
        legacy_opt_out = plan.check_opt_out and names.rotating and self._opted_out_before(number)
        cfg: dict[str, Any] = {
            "check_opt_out": int(plan.check_opt_out), "opted_out_before": int(legacy_opt_out), "mode": "none",
            "limits": [[r.limit, r.window * 1000] for r in (*plan.number_rules, *plan.prefix_rules)],
        }  # fmt: skip
        number_keys = [names.opt_out(number), names.pump_block(number)]
        number_keys += [names.number_limit(number, r.window, plan.kind) for r in plan.number_rules]
        number_keys += [names.prefix_limit(number, r.window) for r in plan.prefix_rules]
        if plan.pumping:
            pump = plan.pumping
            number_keys.append(keys.pump(names.tag(number)))
            cfg["pump"] = {"prefix": names.prefix(number), "min_sends": pump.min_sends, "min_ratio": pump.min_ratio,
                           "window": pump.window * 1000, "cooloff": pump.cooloff * 1000}  # fmt: skip
        fields: list[str] = []
        saved: Verification | None = None  # a Save's verification as it will be stored
        if isinstance(write, Create):
            create = write.verification
            number_keys += [keys.verification(create.id), names.latest(create.to, scope=create.scope)]
            number_keys += [keys.expiries(tag_of(create.id)), keys.expiry_stubs(tag_of(create.id))]
            ttl = round((create.expires_at - create.created_at) * 1000)
            cfg.update(mode="create", ttl=ttl, id=create.id, grace=EXPIRY_GRACE * 1000)
            record = {**to_record(create), "n": names.number(create.to)}
            if not create.test:  # `q` names the prefix whose approvals check.lua counts
                record["q"] = names.prefix(create.to)
            fields = [item for name, value in record.items() if name not in ("c", "e") for item in (name, value)]
        elif isinstance(write, CreateApproval):
            approval = write.approval
            number_keys += [keys.approval(approval.id), names.approvals_of(approval.to)]
            number_keys += [keys.expiries(tag_of(approval.id)), keys.expiry_stubs(tag_of(approval.id))]
            ttl = round((approval.expires_at - approval.created_at) * 1000)
            cfg.update(mode="create", ttl=ttl, id=approval.id, grace=KEPT_AFTER * 1000, index=True)
            record = to_approval_record(approval)
            fields = [item for k, val in record.items() if k not in ("c", "e") for item in (k, val)]
        elif isinstance(write, CreateNotice):
            notice = write.notice
            number_keys.append(keys.notice(notice.id))  # no pointer, no expiry event: a notice is only read
            ttl = round((notice.expires_at - notice.created_at) * 1000)
            cfg.update(mode="create", ttl=ttl, id=notice.id, grace=0, alone=True)
            fields = [item for k, val in to_notice_record(notice).items() if k not in ("c", "e") for item in (k, val)]
        elif isinstance(write, Save):
            number_keys.append(keys.verification(write.verification.id))
            cfg.update(mode="save", version=str(write.verification.version))
            saved = write.verification.with_changes(version=write.verification.version + 1)
            fields = _changed(to_record(write.previous), to_record(saved))
        outcome, ms, *times = self._run("admit_number", number_keys, [json.dumps(cfg), *fields])
        if outcome != Outcome.OK:
            return Admission(Outcome(outcome), _seconds(int(ms)) if ms else 0)
        if isinstance(write, CreateApproval):
            created_ms, expires_ms = (int(t) for t in times)
            made = write.approval.with_changes(created_at=created_ms / 1000, expires_at=expires_ms / 1000)
            self._hint(tag_of(made.id), expires_ms)
            return Admission(Outcome.OK, approval=made)
        if isinstance(write, CreateNotice):
            created_ms, expires_ms = (int(t) for t in times)
            return Admission(Outcome.OK, notice=write.notice.with_changes(created_at=created_ms / 1000,
                                                                          expires_at=expires_ms / 1000))  # fmt: skip
        if isinstance(write, Create):
            created_ms, expires_ms = (int(t) for t in times)
            stored = write.verification.with_changes(created_at=created_ms / 1000, expires_at=expires_ms / 1000)
            self._hint(tag_of(stored.id), expires_ms)
            return Admission(Outcome.OK, verification=stored)
        return Admission(Outcome.OK, verification=saved)

    def _uncount(self, scopes: list[list[str]]) -> None:
        """Give back one count on each counter, one script per scope (its keys share a slot)."""
        if scopes:
            self._pipelined([("uncount", scope_keys, []) for scope_keys in scopes])

    def _pipelined(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        """Several scripts in one round trip. redis-py's own pipelined scripts ask SCRIPT EXISTS
        first (a second round trip every time); EVALSHA alone, reloading after a Redis restart.
        A reload retries only the calls that did not run (NOSCRIPT), so no counting script runs twice."""
        if len(calls) == 1:  # one script needs no pipeline (nor its extra CPU)
            name, script_keys, args = calls[0]
            return [self._run(name, script_keys, args)]
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            pipe = self._redis.pipeline(transaction=False)
            for i in todo:
                name, script_keys, args = calls[i]
                # As a plain command: a cluster pipeline refuses `evalsha` but routes this by its keys.
                pipe.execute_command("EVALSHA", self._scripts[name].sha, len(script_keys), *script_keys, *args)
            answers = pipe.execute(raise_on_error=False)
            missing = []
            for i, answer in zip(todo, answers, strict=True):
                if isinstance(answer, redis.exceptions.NoScriptError) and not attempt:
                    missing.append(i)
                elif isinstance(answer, Exception):
                    raise answer
                else:
                    results[i] = answer
            if not missing:
                return results
            for i in missing:
                self._redis.script_load(self._scripts[calls[i][0]].script)
            todo = missing
        raise AssertionError("unreachable")

    @_fail_closed
    def latest_for(self, e164: str, scope: str = "") -> str | None:
        found = self._redis.get(self.names.latest(e164, scope=scope))
        if found is None and self.names.rotating:  # started before a SECRET_KEY rotation
            older = self._older(lambda number, index: self.names.latest(number, index, scope), e164)
            found = next((v for v in older if v), None)
        return cast(str | None, found)

    def _older(self, name: Callable[[str, int], str], e164: str) -> list[Any]:
        """The values of a number's key under each older secret (during a rotation)."""
        pipe = self._redis.pipeline(transaction=False)
        for index in range(1, len(self.names._keys)):
            pipe.get(name(e164, index))
        return pipe.execute()

    def _opted_out_before(self, e164: str) -> bool:
        return any(self._older(self.names.opt_out, e164))

    @_fail_closed
    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        return bool(self._redis.set(self.names.event(scope, event_id), "1", nx=True, ex=ttl))

    @_fail_closed
    def remember(self, scope: str, event_id: str, *, ttl: int) -> None:
        self._redis.set(self.names.event(scope, event_id), "1", ex=ttl)

    @_fail_closed
    def forget(self, scope: str, event_id: str) -> None:
        self._redis.delete(self.names.event(scope, event_id))

    @_fail_closed
    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        pipe = self._redis.pipeline(transaction=False)  # names under other keys are in other slots
        if opted_out:
            pipe.set(self.names.opt_out(e164), self.names.seal(e164))  # the number, for a rekey
        else:
            pipe.delete(self.names.opt_out(e164))
        for index in self.names.generations[1:]:  # a START also clears a STOP from before a rotation
            pipe.delete(self.names.opt_out(e164, index))
        pipe.execute()

    @_fail_closed
    def rekey_opt_outs(self) -> int:
        """Name every opt-out under the current key: those recorded under a SECRET_KEY_FALLBACKS
        key, and those left by versions that named keys by the number (`otp:{tag}:optout:<e164>`).
        Returns how many moved. Each move is a WATCHed transaction: a START that deletes the old
        key meanwhile is never undone."""
        moved = 0
        for pattern in ("otp:{*}:o:*", "otp:{*}:optout:*"):
            for key in self._redis.scan_iter(match=pattern, count=1000):
                moved += self._rekey(key)
        return moved

    def _rekey(self, key: str) -> int:
        """Move one opt-out: write it under its current name, then delete the old key if it still
        holds what was read. The two names are in different slots (their tags are keyed), so no
        transaction spans them; a START that deleted the old key meanwhile wins, and the copy just
        written is removed again."""
        value = cast(str | None, self._redis.get(key))
        if value is None:
            return 0
        e164 = key.split(":optout:", 1)[1] if ":optout:" in key else self.names.unseal(value)
        if not e164 or not e164.startswith("+") or self.names.opt_out(e164) == key:
            return 0
        current = self.names.opt_out(e164)
        self._redis.set(current, self.names.seal(e164))
        if self._run("delete_if", [key], [value]):
            return 1
        self._redis.delete(current)
        return 0

    @_fail_closed
    def schedule(self, verification_id: str, at: float) -> None:
        self._redis.zadd(keys.TIMERS, {verification_id: at})

    @_fail_closed
    def claim_due(self, now: float, limit: int) -> list[str]:
        return list(self._run("claim", [keys.TIMERS], [now, limit]))

    @_fail_closed
    def outbox_push(self, entry: OutboxEntry) -> None:
        pipe = self._redis.pipeline(transaction=True)  # newest first, capped, kept for a day
        pipe.lpush(keys.OUTBOX, json.dumps(entry))
        pipe.ltrim(keys.OUTBOX, 0, OUTBOX_LIMIT - 1)
        pipe.expire(keys.OUTBOX, 86400)
        pipe.execute()

    @_fail_closed
    def outbox_list(self) -> list[OutboxEntry]:
        return [json.loads(item) for item in self._redis.lrange(keys.OUTBOX, 0, OUTBOX_LIMIT - 1)]

    @_fail_closed
    def doc_put(self, kind: str, sid: str, text: str, parent: str = "") -> None:
        self._redis.hset(keys.docs(kind), sid, f"{parent}|{text}")

    @_fail_closed
    def doc_get(self, kind: str, sid: str) -> str | None:
        found = self._redis.hget(keys.docs(kind), sid)
        return None if found is None else str(found).partition("|")[2]

    @_fail_closed
    def doc_list(self, kind: str, parent: str | None = None) -> list[str]:
        rows = (str(v).partition("|") for v in self._redis.hvals(keys.docs(kind)))
        return [text for owner, _, text in rows if parent is None or owner == parent]

    @_fail_closed
    def doc_delete(self, kind: str, sid: str) -> bool:
        return bool(self._redis.hdel(keys.docs(kind), sid))

    # --- approval requests -----------------------------------------------------------------------

    @_fail_closed
    def approval_get(self, approval_id: str) -> Approval | None:
        record = cast(dict[str, str], self._redis.hgetall(keys.approval(approval_id)))
        return from_approval_record(record, approval_id) if record else None

    @_fail_closed
    def approval_save(self, a: Approval, previous: Approval, event: str | None = None) -> Approval | None:
        saved = a.with_changes(version=a.version + 1)
        changed = self._compare_and_set(keys.approval(a.id), a.id, a.version, to_approval_record(previous),
                                        to_approval_record(saved), event)  # fmt: skip
        return saved if changed else None

    def _compare_and_set(
        self, key: str, resource: str, version: int, before: dict[str, str], after: dict[str, str], event: str | None
    ) -> bool:
        """save.lua on a record's changed fields, with the event the change makes (then hinted to the worker)."""
        fields = _changed(before, after)
        tag = tag_of(resource)
        if not self._run("save", [key, *_outbox_keys(tag)], [str(version), event or "", resource, *fields]):
            return False
        if event:
            self._hint(tag, 0)
        return True

    @_fail_closed
    def approvals_for(self, e164: str) -> list[Approval]:
        since = round((self.now() - KEPT_AFTER) * 1000)
        ids = cast(list[str], self._redis.zrangebyscore(self.names.approvals_of(e164), since, "+inf"))
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for approval_id in ids:
            pipe.hgetall(keys.approval(approval_id))
        return [from_approval_record(r, i) for i, r in zip(ids, pipe.execute(), strict=True) if r]

    # --- notices -------------------------------------------------------------------------------

    @_fail_closed
    def notice_get(self, notice_id: str) -> Notice | None:
        record = cast(dict[str, str], self._redis.hgetall(keys.notice(notice_id)))
        return from_notice_record(record, notice_id) if record else None

    @_fail_closed
    def notice_save(self, n: Notice, previous: Notice, event: str | None = None) -> Notice | None:
        saved = n.with_changes(version=n.version + 1)
        changed = self._compare_and_set(keys.notice(n.id), n.id, n.version, to_notice_record(previous),
                                        to_notice_record(saved), event)  # fmt: skip
        return saved if changed else None

    # --- TOTP factors and their /v2 challenges ---------------------------------------------------

    @_fail_closed
    def factor_create(self, factor: Factor) -> None:
        record = {**factors.to_record(factor), "n": self.names.identity(factor.identity, factor.service)}
        index = keys.factor_index(tag_of(factor.id), record["n"])
        fields = [item for pair in record.items() for item in pair]
        self._run("factor_create", [keys.factor(factor.id), index],
                  [factor.id, round(factor.created_at * 1000), *fields])  # fmt: skip

    @_fail_closed
    def factor_get(self, factor_id: str) -> Factor | None:
        record = cast(dict[str, str], self._redis.hgetall(keys.factor(factor_id)))
        return factors.from_record(record, factor_id) if record else None

    @_fail_closed
    def factor_list(self, identity: str, scope: str = "") -> list[Factor]:
        listed: dict[str, float] = {}
        for index in self.names.generations:  # each key generation names the index in a slot of its own
            found = self._redis.zrange(self.names.factor_index(identity, scope, index), 0, -1, withscores=True)
            listed.update(cast(list[tuple[str, float]], found))
        ordered = sorted(listed, key=lambda fid: (listed[fid], fid))
        pipe = self._redis.pipeline(transaction=False)
        for fid in ordered:
            pipe.hgetall(keys.factor(fid))
        records = pipe.execute() if ordered else []
        return [factors.from_record(r, fid) for fid, r in zip(ordered, records, strict=True) if r]

    @_fail_closed
    def factor_attempt(
        self, factor_id: str, step: int | None, now: float, *, verified_only: bool = False
    ) -> tuple[Judgement, Factor | None]:
        tag = tag_of(factor_id)
        args = ["" if step is None else step, round(now * 1000), int(verified_only), factor_id, MAX_WRONG,
                WRONG_WINDOW * 1000]  # fmt: skip
        verdict, *rest = self._run("factor_attempt", [keys.factor(factor_id), keys.outbox(tag)], args)
        if verdict == Verdict.MISSING:
            return Judgement(Verdict.MISSING), None
        record, retry_after_ms, made = rest
        judged = Judgement(Verdict(verdict), retry_after_ms=int(retry_after_ms), event=made or None)
        if judged.event:
            self._hint(tag, 0)
        after = factors.from_record(_pairs(record), factor_id)
        return judged, after

    @_fail_closed
    def factor_delete(self, factor_id: str) -> bool:
        key = keys.factor(factor_id)
        name = cast(str | None, self._redis.hget(key, "n"))
        if name is None:
            return False
        tag = tag_of(factor_id)
        if not self._run("factor_delete", [key, keys.factor_index(tag, name), keys.outbox(tag)], [factor_id]):
            return False
        self._hint(tag, 0)
        return True

    @_fail_closed
    def challenge_put(self, challenge_id: str, factor_id: str, text: str, keep_until: float) -> None:
        script_keys = [keys.challenge(challenge_id), keys.challenge_index(factor_id)]
        self._run("challenge_put", script_keys, [challenge_id, text, round(keep_until * 1000)])

    @_fail_closed
    def challenge_get(self, challenge_id: str) -> str | None:
        return cast(str | None, self._redis.get(keys.challenge(challenge_id)))

    @_fail_closed
    def challenge_list(self, factor_id: str) -> list[str]:
        now_ms = round(self.now() * 1000)
        sids = cast(list[str], self._redis.zrangebyscore(keys.challenge_index(factor_id), now_ms, "+inf"))
        if not sids:
            return []
        found = cast(list[str | None], self._redis.mget([keys.challenge(sid) for sid in sids]))  # one slot
        return [text for text in found if text is not None]

    # --- lifecycle events ------------------------------------------------------------------------

    def _hint(self, tag: str, at_ms: int) -> None:
        """Name the tag to the worker (0: now). Best effort: the change is made already, and a hint
        lost with a failing connection is found again by the worker's sweep (`_sweep`)."""
        try:
            self._run("hint", [keys.TAGS, keys.HINTS], [tag, at_ms])
        except redis.RedisError as exc:
            log.warning("event=store.hint_lost tag=%s error=%s", tag, type(exc).__name__)

    def _sweep(self) -> None:
        """Hint every tag that has an outbox or expiries: a process that died between a change and
        its hint (or a Redis that lost the hint set) delays events by one sweep, never loses them."""
        tags = {str(key).split("{", 1)[1].split("}", 1)[0] for pattern in ("otp:{*}:ev", "otp:{*}:x")
                for key in self._redis.scan_iter(match=pattern, count=1000)}  # fmt: skip
        for tag in tags:
            self._hint(tag, 0)

    @_fail_closed
    def collect_events(self, targets: Targets, limit: int = 500) -> list[Event]:
        if time.monotonic() - self._swept > SWEEP_EVERY:
            self._swept = time.monotonic()
            self._sweep()
        now_ms = round(self.now() * 1000)
        logged: list[Event] = []
        due = self._redis.zrangebyscore(keys.TAGS, "-inf", now_ms, start=0, num=100)
        for tag in cast(list[str], due):
            seen = self._redis.hget(keys.HINTS, tag)
            ids = cast(list[str], self._redis.zrangebyscore(keys.expiries(tag), "-inf", now_ms, start=0, num=100))
            drain_keys = [keys.outbox(tag), keys.expiries(tag), keys.expiry_stubs(tag), *(_record_key(i) for i in ids)]
            entries, nxt = self._run("drain", drain_keys, [limit, *ids])
            events = [Event.from_json(text) for text in entries]
            events = [replace(e, targets=tuple(targets(e))) for e in events]
            cfg = {
                "events": [{"id": e.id, "json": e.to_json(), "targets": list(e.targets)} for e in events],
                "tag": tag, "seen": seen if seen is not None else False,
                "next": int(float(nxt)) if nxt else False, "retention": RETENTION * 1000,
            }  # fmt: skip
            queues = [keys.delivery_queue(t, e.resource) for e in events for t in e.targets]
            log_keys = [keys.EVENT_LOG, keys.EVENTS, keys.DELIVERIES, keys.DUE, keys.LAST_SCORE, keys.TAGS, keys.HINTS]
            added = self._run("relay", [*log_keys, *queues], [json.dumps(cfg)])
            if entries:
                self._run("trim_outbox", [keys.outbox(tag)], [entries[0], len(entries)])
            logged += [e for e in events if e.id in set(added)]
        return logged

    @_fail_closed
    def claim_deliveries(self, lease: float, limit: int) -> list[Claim]:
        token = secrets.token_hex(8)
        now_ms = round(self.now() * 1000)
        found = self._run("claim_deliveries", [keys.DUE, keys.DELIVERIES, keys.EVENTS],
                          [now_ms, round(lease * 1000), limit, token])  # fmt: skip
        return [Claim(key, Event.from_json(event), Delivery.from_json(state), token) for key, state, event in found]

    @_fail_closed
    def finish_delivery(self, claim: Claim, outcome: Delivery) -> bool:
        state = json.loads(outcome.to_json())
        state["token"] = claim.token
        due = "" if outcome.final or outcome.next_attempt_at is None else round(outcome.next_attempt_at * 1000)
        script_keys = [keys.DUE, keys.DELIVERIES, keys.delivery_queue(claim.target, claim.event.resource)]
        return bool(self._run("finish_delivery", script_keys, [claim.key, claim.token, json.dumps(state), due]))

    @_fail_closed
    def list_events(self, after: str | None, limit: int) -> tuple[list[tuple[Event, Delivery | None]], bool]:
        rank = self._redis.zrank(keys.EVENT_LOG, after) if after else None
        start = 0 if rank is None else int(cast(int, rank)) + 1
        ids = cast(list[str], self._redis.zrange(keys.EVENT_LOG, start, start + limit))  # one more: are there more?
        more, ids = len(ids) > limit, ids[:limit]
        if not ids:
            return [], False
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(keys.EVENTS, ids)
        pipe.hmget(keys.DELIVERIES, [f"{i}|" for i in ids])
        texts, deliveries = pipe.execute()
        return [
            (Event.from_json(text), Delivery.from_json(state) if state else None)
            for text, state in zip(texts, deliveries, strict=True)
            if text
        ], more

    def ping(self) -> bool:
        """Every primary answers (a cluster's each; Sentinel's current master)."""
        try:
            if isinstance(self._redis, RedisCluster):
                nodes = self._redis.get_primaries()  # type: ignore[no-untyped-call]
                return len(nodes) > 0 and all(self._redis.ping(target_nodes=node) for node in nodes)
            return bool(self._redis.ping())
        except redis.RedisError:
            return False


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """A record's fields as field, value, ...: only what changed since `before` (the version always does)."""
    return [item for k, value in after.items() if before.get(k) != value for item in (k, value)]


def _seconds(ms: int) -> int:
    return max(1, -(-ms // 1000))


def _record_key(resource_id: str) -> str:
    """The record of a verification or approval id (the worker's expiries hold both)."""
    return keys.approval(resource_id) if resource_id.startswith("ap_") else keys.verification(resource_id)


def _outbox_keys(tag: str) -> list[str]:
    """What a change that may make an event names besides its record: the tag's outbox, and its
    expiries and their stubs (a final status takes the resource off them)."""
    return [keys.outbox(tag), keys.expiries(tag), keys.expiry_stubs(tag)]
