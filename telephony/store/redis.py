"""Redis store: each operation that must be atomic is one Lua script or one MULTI transaction.

Keys (all documented here):
  otp:{tag}:vf:<id>         hash, one verification (fields from `models.to_record`), PEXPIREAT its expiry
  otp:{tag}:latest:<e164>   string, id of the number's newest verification, same expiry
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
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from telephony.errors import StoreUnavailable
from telephony.lifecycle import CheckOutcome
from telephony.models import Verification, from_record, number_tag, tag_of, to_record
from telephony.store.base import OUTBOX_LIMIT

log = logging.getLogger(__name__)
T = TypeVar("T")

# Constant-time comparison: the stored MAC must not leak through how long a mismatch takes.
_CHECK = """
local h = redis.call('HMGET', KEYS[1], 'status', 'checks_left', 'mac')
if not h[1] then return {'missing'} end
local outcome
if h[1] == 'max_attempts_reached' then
  outcome = 'max_attempts'
elseif h[1] ~= 'pending' then
  outcome = 'not_pending'
else
  local matched = 0
  for i = 1, #ARGV do
    local a, b = h[3], ARGV[i]
    local diff = (#a == #b) and 0 or 1
    for j = 1, math.min(#a, #b) do diff = bit.bor(diff, bit.bxor(a:byte(j), b:byte(j))) end
    if diff == 0 then matched = 1 end
  end
  if matched == 1 then
    outcome = 'approved'
    redis.call('HSET', KEYS[1], 'status', 'approved')
  else
    outcome = 'wrong'
    local left = math.max(0, tonumber(h[2]) - 1)
    redis.call('HSET', KEYS[1], 'checks_left', left)
    if left == 0 then redis.call('HSET', KEYS[1], 'status', 'max_attempts_reached') end
  end
  redis.call('HINCRBY', KEYS[1], 'ver', 1)
end
return {outcome, redis.call('HGETALL', KEYS[1])}
"""

# Compare-and-set: ARGV[1] expected version, ARGV[2] expiry (ms since epoch), then field, value...
_SAVE = """
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver == false or ver ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""


# Claim due timers: read and remove in one step, so each id goes to exactly one worker.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
"""
TIMERS_KEY = "otp:timers"


def _vf_key(verification_id: str) -> str:
    return f"otp:{{{tag_of(verification_id)}}}:vf:{verification_id}"


def _latest_key(e164: str) -> str:
    return f"otp:{{{number_tag(e164)}}}:latest:{e164}"


def _optout_key(e164: str) -> str:
    return f"otp:{{{number_tag(e164)}}}:optout:{e164}"


def _scope_tag(scope: str) -> str:
    return tag_of(scope) if scope.startswith("vf_") else number_tag(scope)


OUTBOX_KEY = "otp:dev:outbox"


def _fail_closed(method: Callable[..., T]) -> Callable[..., T]:
    """Any Redis failure becomes `StoreUnavailable`: callers then send nothing, approve nothing."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            log.warning("store.unavailable op=%s error=%s", method.__name__, type(exc).__name__)
            raise StoreUnavailable("The store cannot be reached; try again shortly.") from exc

    return wrapper


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._check = client.register_script(_CHECK)
        self._save = client.register_script(_SAVE)
        self._claim = client.register_script(_CLAIM)

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

    @_fail_closed
    def create(self, v: Verification) -> None:
        expires_ms = int(v.expires_at * 1000)
        pipe = self._redis.pipeline(transaction=True)
        key = _vf_key(v.id)
        pipe.hset(key, mapping=to_record(v))
        pipe.pexpireat(key, expires_ms)
        pipe.set(_latest_key(v.to), v.id, pxat=expires_ms)
        pipe.execute()

    @_fail_closed
    def get(self, verification_id: str) -> Verification | None:
        record = self._redis.hgetall(_vf_key(verification_id))
        return from_record(record) if record else None

    @_fail_closed
    def save(self, v: Verification) -> Verification | None:
        saved = v.with_changes(version=v.version + 1)
        flat = [item for pair in to_record(saved).items() for item in pair]
        ok = self._save(keys=[_vf_key(v.id)], args=[str(v.version), int(v.expires_at * 1000), *flat])
        return saved if ok else None

    @_fail_closed
    def check(self, verification_id: str, candidate_macs: list[str]) -> tuple[CheckOutcome, Verification | None]:
        result = self._check(keys=[_vf_key(verification_id)], args=candidate_macs)
        outcome = CheckOutcome(result[0])
        return outcome, from_record(_pairs(result[1])) if len(result) > 1 else None

    @_fail_closed
    def latest_for(self, e164: str) -> str | None:
        return self._redis.get(_latest_key(e164))

    @_fail_closed
    def first_seen(self, scope: str, event_id: str, *, ttl: int) -> bool:
        key = f"otp:{{{_scope_tag(scope)}}}:evt:{scope}:{event_id}"
        return bool(self._redis.set(key, "1", nx=True, ex=ttl))

    @_fail_closed
    def opted_out(self, e164: str) -> bool:
        return bool(self._redis.exists(_optout_key(e164)))

    @_fail_closed
    def set_opted_out(self, e164: str, opted_out: bool) -> None:
        if opted_out:
            self._redis.set(_optout_key(e164), "1")
        else:
            self._redis.delete(_optout_key(e164))

    @_fail_closed
    def schedule(self, verification_id: str, at: float) -> None:
        self._redis.zadd(TIMERS_KEY, {verification_id: at})

    @_fail_closed
    def claim_due(self, now: float, limit: int) -> list[str]:
        return list(self._claim(keys=[TIMERS_KEY], args=[now, limit]))

    @_fail_closed
    def outbox_push(self, entry: dict) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(OUTBOX_KEY, json.dumps(entry))
        pipe.ltrim(OUTBOX_KEY, 0, OUTBOX_LIMIT - 1)
        pipe.expire(OUTBOX_KEY, 86400)
        pipe.execute()

    @_fail_closed
    def outbox_list(self) -> list[dict]:
        return [json.loads(item) for item in self._redis.lrange(OUTBOX_KEY, 0, OUTBOX_LIMIT - 1)]

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False
