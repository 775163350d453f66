"""Redis store: each operation that must be atomic is one Lua script or one MULTI transaction.

Keys (all documented here):
  otp:{tag}:v:<id's random part>  hash, one verification (`models.to_record`), PEXPIREAT its expiry
  otp:{tag}:n:<e164>        string, id of the number's newest verification, same expiry
  otp:{tag}:evt:<event>     string, an event already handled (webhook de-duplication), SET NX EX
  otp:{tag}:optout:<e164>   string, present while the number is opted out of SMS (no expiry)
  otp:timers                sorted set, verification ids scored by when their fallback is due
  otp:dev:outbox            list, development outbox (console provider), newest first
`tag` is a digest of the number's prefix, also embedded in the verification id, so every key of one
number and of its verifications hashes to one Redis Cluster slot and scripts may touch several.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.commands.core import Script

from telephony.errors import StoreUnavailable
from telephony.lifecycle import CALL_RANK, FAILED, MESSAGE_RANK, CheckOutcome, Receipt
from telephony.limits import Admission, CheckPolicy, SendPlan, buckets
from telephony.models import SHORT_TEXT, Verification, from_record, to_record
from telephony.store import keys
from telephony.store.base import OUTBOX_LIMIT

log = logging.getLogger(__name__)
T = TypeVar("T")

# Check and consume. ARGV[1]: {"fl": wrong codes allowed per number or 0, "fw": their window (ms),
# "pb": approvals bucket or -1, "pk": how long buckets are kept (ms)}; ARGV[2...]: candidate MACs.
# The per-number keys are built from the verification's `to` (same tag, so the same slot): keep
# their spelling in step with store/keys.py. Comparison is constant-time.
_CHECK = """
local cfg = cjson.decode(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 's', 'k', 'h', 't')
if not h[1] then return {'missing'} end
local tag = string.match(KEYS[1], '{(.-)}')
local fails = 'otp:{' .. tag .. '}:fails:' .. h[4]
local outcome
if h[1] == 'max_attempts_reached' then
  outcome = 'max_attempts'
elseif h[1] ~= 'pending' then
  outcome = 'not_pending'
elseif cfg.fl > 0 and tonumber(redis.call('GET', fails) or '0') >= cfg.fl then
  return {'locked', redis.call('HGETALL', KEYS[1])}
else
  local matched = 0
  for i = 2, #ARGV do
    local a, b = h[3], ARGV[i]
    local diff = (#a == #b) and 0 or 1
    for j = 1, math.min(#a, #b) do diff = bit.bor(diff, bit.bxor(a:byte(j), b:byte(j))) end
    if diff == 0 then matched = 1 end
  end
  if matched == 1 then
    outcome = 'approved'
    redis.call('HSET', KEYS[1], 's', 'approved')
    redis.call('DEL', fails)
    if cfg.pb >= 0 then
      local approvals = 'otp:{' .. tag .. '}:pump:a:' .. string.sub(h[4], 1, -5) .. ':' .. cfg.pb
      redis.call('INCR', approvals)
      redis.call('PEXPIRE', approvals, cfg.pk)
    end
  else
    outcome = 'wrong'
    local left = math.max(0, tonumber(h[2]) - 1)
    redis.call('HSET', KEYS[1], 'k', left)
    if left == 0 then redis.call('HSET', KEYS[1], 's', 'max_attempts_reached') end
    if cfg.fl > 0 and redis.call('INCR', fails) == 1 then redis.call('PEXPIRE', fails, cfg.fw) end
  end
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return {outcome, redis.call('HGETALL', KEYS[1])}
"""

# Admit a send for a number: its opt-out, its prefix's pumping block, its number and prefix
# limits, the pumping statistics, then (when everything passes) count it and create the
# verification. All keys share the number's tag. ARGV[1]: {"sms": 0|1, "limits": [[limit, ms]...],
# "pump": {...} (absent when off), "create": 0|1, "exp": expiry ms}; ARGV[2...]: fields to create.
# KEYS: opt-out, block, one per limit, then 4 pumping keys when on, then the verification.
_ADMIT_NUMBER = """
local cfg = cjson.decode(ARGV[1])
if cfg.sms == 1 and redis.call('EXISTS', KEYS[1]) == 1 then return {'opted_out', 0} end
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {'pumping', blocked} end
for i, rule in ipairs(cfg.limits) do
  if tonumber(redis.call('GET', KEYS[2 + i]) or '0') >= rule[1] then
    return {'limited', redis.call('PTTL', KEYS[2 + i])}
  end
end
local next_key = 3 + #cfg.limits
if cfg.pump then
  local p, w = next_key, cfg.pump.weight
  local function n(k) return tonumber(redis.call('GET', k) or '0') end
  local sends = n(KEYS[p]) + w * n(KEYS[p + 1])
  local approved = n(KEYS[p + 2]) + w * n(KEYS[p + 3])
  if sends >= cfg.pump.min and approved < sends * cfg.pump.ratio then
    redis.call('SET', KEYS[2], '1', 'PX', cfg.pump.cooloff)
    return {'pumping', cfg.pump.cooloff}
  end
  redis.call('INCR', KEYS[p])
  redis.call('PEXPIRE', KEYS[p], cfg.pump.keep)
  next_key = p + 4
end
for i, rule in ipairs(cfg.limits) do
  if redis.call('INCR', KEYS[2 + i]) == 1 then redis.call('PEXPIRE', KEYS[2 + i], rule[2]) end
end
if cfg.create == 1 then
  redis.call('HSET', KEYS[next_key], unpack(ARGV, 2))
  redis.call('PEXPIREAT', KEYS[next_key], cfg.exp)
  redis.call('SET', KEYS[next_key + 1], cfg.id, 'PXAT', cfg.exp)
end
return {'ok', 0}
"""

# One client's or one country's counters (own slot): all windows pass, then all count.
_ADMIT_SCOPE = """
local limits = cjson.decode(ARGV[1])
for i, rule in ipairs(limits) do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= rule[1] then return {'limited', redis.call('PTTL', KEYS[i])} end
end
for i, rule in ipairs(limits) do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], rule[2]) end
end
return {'ok', 0}
"""

# Forget a verification admitted by its number but refused by another limit.
_DISCARD = """
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

# Compare-and-set: ARGV[1] expected version, ARGV[2] expiry (ms since epoch), then field, value...
_SAVE = """
local ver = redis.call('HGET', KEYS[1], 'v')
if ver == false or ver ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""


# Count a playing of the code and read the verification, in one round trip.
_PLAY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local plays = redis.call('HINCRBY', KEYS[1], 'p', 1)
return {plays, redis.call('HGETALL', KEYS[1])}
"""

# Record a receipt on its attempt (lifecycle.quick_receipt, in Lua for one round trip). ARGV: index
# (0-based), provider, channel, provider id, status ('' when unknown), raw word, ranks (JSON),
# failure statuses (JSON). Attempt fields as in models.to_record: a<i> = "send_no|channel|provider|
# status|at_ms", i<i> provider id, r<i> raw word.
_RECEIPT = """
local i = ARGV[1]
local rec = redis.call('HMGET', KEYS[1], 'a' .. i, 'i' .. i, 'r' .. i, 's')
if not rec[4] then return {'missing'} end
if not rec[1] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
local parts = {}
for part in string.gmatch(rec[1], '[^|]+') do parts[#parts + 1] = part end
if parts[3] ~= ARGV[2] or parts[2] ~= ARGV[3] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
if rec[2] and rec[2] ~= ARGV[4] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
local failed = {}
for _, word in ipairs(cjson.decode(ARGV[8])) do failed[word] = true end
if rec[4] == 'pending' and failed[ARGV[5]] then return {'escalate', redis.call('HGETALL', KEYS[1])} end
local ranks = cjson.decode(ARGV[7])
local changed = false
if ARGV[5] == '' then
  if rec[3] ~= ARGV[6] then redis.call('HSET', KEYS[1], 'r' .. i, ARGV[6]); changed = true end
elseif ranks[ARGV[5]] > ranks[parts[4]] then
  parts[4] = ARGV[5]
  redis.call('HSET', KEYS[1], 'a' .. i, table.concat(parts, '|'), 'r' .. i, ARGV[6])
  changed = true
end
if not rec[2] then redis.call('HSET', KEYS[1], 'i' .. i, ARGV[4]); changed = true end
if not changed then return {'ignored', redis.call('HGETALL', KEYS[1])} end
redis.call('HINCRBY', KEYS[1], 'v', 1)
return {'updated', redis.call('HGETALL', KEYS[1])}
"""

# Keep a development outbox entry: newest first, the list capped and kept for a day.
_OUTBOX = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""

# Claim due timers: read and remove in one step, so each id goes to exactly one worker.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
"""


# The receipt script's tables, encoded once.
_MESSAGE_RANKS, _CALL_RANKS = json.dumps(MESSAGE_RANK), json.dumps(CALL_RANK)
_FAILED = json.dumps(sorted(FAILED))


def _fail_closed(method: Callable[..., T]) -> Callable[..., T]:
    """Any Redis failure becomes `StoreUnavailable`: callers then send nothing, approve nothing."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            log.warning("event=store.unavailable op=%s error=%s", method.__name__, type(exc).__name__)
            raise StoreUnavailable("The store cannot be reached; try again shortly.") from exc

    return wrapper


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._local = threading.local()
        self._check = client.register_script(_CHECK)
        self._save = client.register_script(_SAVE)
        self._claim = client.register_script(_CLAIM)
        self._play = client.register_script(_PLAY)
        self._receipt = client.register_script(_RECEIPT)
        self._admit_number = client.register_script(_ADMIT_NUMBER)
        self._admit_scope = client.register_script(_ADMIT_SCOPE)
        self._discard = client.register_script(_DISCARD)
        self._outbox = client.register_script(_OUTBOX)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
        )
        return cls(client)

    def _lane(self) -> redis.Redis:
        """A connection this thread keeps for single commands and scripts (pipelines use the pool).

        redis-py takes a connection from its pool and gives it back around every command, with
        a lock, a readiness poll and bookkeeping each way: about 5 % of a check's instructions
        (bench/RESULTS.md). A single-connection client skips that and keeps redis-py's reconnect
        and retry. One per thread, so gthread workers do not queue on one socket; made on first
        use in each process, so a forked worker never shares its parent's socket, and a Redis
        that is down at start-up fails the first request (503), not the app. A thread's client
        goes back to the pool when the thread ends (CPython frees it then).
        """
        local, pid = self._local, os.getpid()
        client = getattr(local, "client", None)
        if client is None or local.pid != pid:
            client = redis.Redis(connection_pool=self._redis.connection_pool, single_connection_client=True)
            local.client, local.pid = client, pid
        connection = client.connection
        # As the pool does before lending a connection: a socket with something to read is stale
        # (the server closed it, e.g. it restarted), so reconnect before sending.
        try:  # a dropped connection is left to the command to reconnect (one timeout, not two)
            if connection.is_connected and connection.can_read():
                connection.disconnect()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
        return client

    def _run(self, script: Script, script_keys: list[str], args: list | None = None) -> Any:
        """One Lua script on this thread's lane (redis-py reloads it after a Redis restart)."""
        return script(keys=script_keys, args=args or [], client=self._lane())

    @_fail_closed
    def create(self, v: Verification) -> None:
        expires_ms = int(v.expires_at * 1000)
        pipe = self._redis.pipeline(transaction=True)
        key = keys.verification(v.id)
        pipe.hset(key, mapping=to_record(v))
        pipe.pexpireat(key, expires_ms)
        pipe.set(keys.latest(v.to), v.id, pxat=expires_ms)
        pipe.execute()

    @_fail_closed
    def get(self, verification_id: str) -> Verification | None:
        record = self._lane().hgetall(keys.verification(verification_id))
        return from_record(record, verification_id) if record else None

    @_fail_closed
    def play(self, verification_id: str) -> tuple[Verification | None, int]:
        result = self._run(self._play, [keys.verification(verification_id)])
        return (from_record(_pairs(result[1]), verification_id), int(result[0])) if result[0] else (None, 0)

    @_fail_closed
    def save(self, v: Verification, previous: Verification | None = None) -> Verification | None:
        saved = v.with_changes(version=v.version + 1)
        record = to_record(saved)
        if previous is not None:  # send only what changed (the version always does)
            before = to_record(previous)
            record = {k: value for k, value in record.items() if before.get(k) != value}
        flat = [item for pair in record.items() for item in pair]
        args = [str(v.version), int(v.expires_at * 1000), *flat]
        ok = self._run(self._save, [keys.verification(v.id)], args)
        return saved if ok else None

    @_fail_closed
    def check(
        self, verification_id: str, candidate_macs: list[str], policy: CheckPolicy | None = None
    ) -> tuple[CheckOutcome, Verification | None]:
        fails = policy.fails if policy else None
        cfg = {
            "fl": fails.limit if fails else 0,
            "fw": fails.window * 1000 if fails else 0,
            "pb": policy.bucket if policy and policy.pump_window else -1,
            "pk": 2 * policy.pump_window * 1000 if policy and policy.pump_window else 0,
        }
        args = [json.dumps(cfg), *candidate_macs]
        result = self._run(self._check, [keys.verification(verification_id)], args)
        return CheckOutcome(result[0]), from_record(_pairs(result[1]), verification_id) if len(result) > 1 else None

    @_fail_closed
    def apply_receipt(self, verification_id: str, receipt: Receipt) -> tuple[str, Verification | None]:
        ranks = _MESSAGE_RANKS if receipt.channel == "sms" else _CALL_RANKS
        args = [receipt.index, receipt.provider, receipt.channel, receipt.provider_id, receipt.status or "",
                receipt.raw[:SHORT_TEXT], ranks, _FAILED]  # fmt: skip
        result = self._run(self._receipt, [keys.verification(verification_id)], args)
        return result[0], from_record(_pairs(result[1]), verification_id) if len(result) > 1 else None

    @_fail_closed
    def admit(self, plan: SendPlan, now: float, create: Verification | None = None) -> Admission:
        number = plan.number
        rules = [*plan.number_rules, *plan.prefix_rules]
        number_keys = [keys.opt_out(number), keys.pump_block(number)]
        number_keys += [keys.number_limit(number, r.window) for r in plan.number_rules]
        number_keys += [keys.prefix_limit(number, r.window) for r in plan.prefix_rules]
        cfg: dict = {"sms": int(plan.check_opt_out), "limits": [[r.limit, r.window * 1000] for r in rules]}
        if plan.pumping:
            pump = plan.pumping
            bucket, weight = buckets(now, pump.window)
            number_keys += [keys.pump_sends(number, bucket), keys.pump_sends(number, bucket - 1),
                            keys.pump_approvals(number, bucket), keys.pump_approvals(number, bucket - 1)]  # fmt: skip
            cfg["pump"] = {"weight": weight, "min": pump.min_sends, "ratio": pump.min_ratio,
                           "cooloff": pump.cooloff * 1000, "keep": 2 * pump.window * 1000}  # fmt: skip
        fields: list[str] = []
        if create is not None:
            number_keys += [keys.verification(create.id), keys.latest(create.to)]
            cfg.update(create=1, exp=int(create.expires_at * 1000), id=create.id)
            fields = [item for pair in to_record(create).items() for item in pair]
        calls = [(self._admit_number, number_keys, [json.dumps(cfg), *fields])]
        scopes: dict[str, list] = {}
        for counter in plan.others:
            scopes.setdefault(counter.scope, []).append(counter.rule)
        for scope, scope_rules in scopes.items():
            scope_keys = [keys.scope_limit(scope, r.window) for r in scope_rules]
            calls.append(
                (self._admit_scope, scope_keys, [json.dumps([[r.limit, r.window * 1000] for r in scope_rules])])
            )
        results = [(outcome, int(ms)) for outcome, ms in self._pipelined(calls)]
        refused = [r for r in results if r[0] != "ok"]
        if not refused:
            return Admission("ok")
        if create is not None and results[0][0] == "ok":
            self._run(self._discard, [keys.verification(create.id), keys.latest(create.to)], [create.id])
        outcome, ms = max(refused, key=lambda r: (r[0] == "opted_out", r[1]))
        return Admission(outcome, max(1, -(-ms // 1000)))

    def _pipelined(self, calls: list[tuple[Script, list[str], list]]) -> list:
        """Several scripts in one round trip. redis-py's own pipelined scripts ask SCRIPT EXISTS
        first (a second round trip every time); EVALSHA alone, reloading after a Redis restart."""
        if len(calls) == 1:  # one script needs no pipeline (nor its extra CPU)
            script, script_keys, args = calls[0]
            return [self._run(script, script_keys, args)]
        for attempt in range(2):
            pipe = self._redis.pipeline(transaction=False)
            for script, script_keys, args in calls:
                pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                for script, _, _ in calls:
                    self._redis.script_load(script.script)
        raise AssertionError("unreachable")

    @_fail_closed
    def discard(self, v: Verification) -> None:
        self._run(self._discard, [keys.verification(v.id), keys.latest(v.to)], [v.id])

    @_fail_closed
    def latest_for(self, e164: str) -> str | None:
        return self._lane().get(keys.latest(e164))

    @_fail_closed
    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        return bool(self._lane().set(keys.event(scope, event_id), "1", nx=True, ex=ttl))

    @_fail_closed
    def opted_out(self, e164: str) -> bool:
        return bool(self._lane().exists(keys.opt_out(e164)))

    @_fail_closed
    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        if opted_out:
            self._lane().set(keys.opt_out(e164), "1")
        else:
            self._lane().delete(keys.opt_out(e164))

    @_fail_closed
    def schedule(self, verification_id: str, at: float) -> None:
        self._lane().zadd(keys.TIMERS, {verification_id: at})

    @_fail_closed
    def claim_due(self, now: float, limit: int) -> list[str]:
        return list(self._run(self._claim, [keys.TIMERS], [now, limit]))

    @_fail_closed
    def outbox_push(self, entry: dict) -> None:
        self._run(self._outbox, [keys.OUTBOX], [json.dumps(entry), OUTBOX_LIMIT - 1, 86400])

    @_fail_closed
    def outbox_list(self) -> list[dict]:
        return [json.loads(item) for item in self._lane().lrange(keys.OUTBOX, 0, OUTBOX_LIMIT - 1)]

    def ping(self) -> bool:
        try:
            return bool(self._lane().ping())
        except redis.RedisError:
            return False
