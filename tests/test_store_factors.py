"""TOTP factors and challenges in the store: one contract for the memory store and Redis (one
server, a Cluster, Sentinel), so the Lua scripts and their Python twins cannot drift apart."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from conftest import TOPOLOGIES, store_url

from telephony import totp
from telephony.codes import CodeVault
from telephony.factors import MAX_WRONG, WRONG_WINDOW, Factor, Verdict
from telephony.store import KeyNames, MemoryStore, Store, keys
from telephony.store.redis import RedisStore

SECRET, OLD_SECRET = "store-factors-secret-0123", "store-factors-old-secret-0123"
NAMES = KeyNames(SECRET)
VAULT = CodeVault(SECRET)
IDENTITY = "user-1234-abcd"
STEP = 58_000_000  # a time step of 2025 (30 s steps): what the service would have matched


@pytest.fixture(params=TOPOLOGIES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(store_kind: str, clock, request: pytest.FixtureRequest) -> Store:
    if store_kind == "memory":
        return MemoryStore(clock=clock, names=NAMES)
    return RedisStore.from_url(store_url(request, store_kind), NAMES)


def enrol(store: Store, now: float, identity: str = IDENTITY, scope: str = "", name: str = "alice") -> Factor:
    fid = store.names.new_factor_id(identity, scope)
    factor = Factor(id=fid, identity=identity, friendly_name=name, issuer="Acme", created_at=round(now, 3),
                    config=totp.DEFAULT, sealed=VAULT.seal_secret(fid, totp.new_secret()), service=scope)  # fmt: skip
    store.factor_create(factor)
    return factor


def test_create_get_and_list_by_identity_and_scope(store: Store, clock) -> None:
    first = enrol(store, clock())
    second = enrol(store, clock() + 1, name="bob")
    enrol(store, clock(), identity="someone-else-01")
    in_service = enrol(store, clock(), scope="VA" + "1" * 32)
    assert store.factor_get(first.id) == first
    assert [f.id for f in store.factor_list(IDENTITY)] == [first.id, second.id]  # oldest first
    assert [f.id for f in store.factor_list(IDENTITY, "VA" + "1" * 32)] == [in_service.id]
    assert store.factor_list("nobody-at-all") == []
    assert store.factor_get(NAMES.new_factor_id(IDENTITY)) is None
    assert first.id[3:11] == second.id[3:11] != in_service.id[3:11]  # one tag per identity and scope


def test_the_first_accepted_code_verifies_once_with_its_event(store: Store, clock) -> None:
    f = enrol(store, clock())
    now = clock()
    judged, after = store.factor_attempt(f.id, None, now)
    assert judged.verdict is Verdict.WRONG and after is not None and not after.verified
    judged, after = store.factor_attempt(f.id, STEP, now, verified_only=True)
    assert judged.verdict is Verdict.UNVERIFIED and not after.verified  # a check waits for the verification
    judged, after = store.factor_attempt(f.id, STEP, now)
    assert judged.verdict is Verdict.ACCEPTED and judged.event == "factor.verified"
    assert after.verified and after.verified_at == round(now, 3) and after.last_step == STEP
    assert store.factor_get(f.id) == after
    judged, _ = store.factor_attempt(f.id, STEP + 1, now, verified_only=True)
    assert judged.verdict is Verdict.ACCEPTED and judged.event is None  # verified once
    (logged,) = store.collect_events(lambda e: [""])
    assert (logged.type, logged.resource, logged.record["s"]) == ("factor.verified", f.id, "verified")
    assert "x" not in logged.record and "n" not in logged.record  # never the secret, nor the keyed name


def test_a_step_is_accepted_once_and_never_an_earlier_one(store: Store, clock) -> None:
    f = enrol(store, clock())
    assert store.factor_attempt(f.id, STEP, clock())[0].verdict is Verdict.ACCEPTED
    for step in (STEP, STEP - 1, STEP - 100):
        judged, after = store.factor_attempt(f.id, step, clock())
        assert judged.verdict is Verdict.REPLAYED and after.last_step == STEP
    assert store.factor_attempt(f.id, STEP + 1, clock())[0].verdict is Verdict.ACCEPTED
    assert store.factor_attempt(f.id, STEP + 1, clock())[0].verdict is Verdict.REPLAYED


def test_five_wrong_codes_in_the_window_refuse_every_attempt_until_the_oldest_leaves(store: Store, clock) -> None:
    f = enrol(store, clock())
    start = clock()
    for i in range(MAX_WRONG):
        assert store.factor_attempt(f.id, None, start + 60 * i)[0].verdict is Verdict.WRONG
    last = start + 60 * (MAX_WRONG - 1)
    judged, _ = store.factor_attempt(f.id, STEP, last + 10)  # even a right code waits
    assert judged.verdict is Verdict.LIMITED and judged.retry_after_ms == (WRONG_WINDOW - 4 * 60 - 10) * 1000
    assert store.factor_attempt(f.id, None, last + 10)[0].verdict is Verdict.LIMITED  # not counted either
    # The oldest wrong code leaves the window: one more try, and it is right.
    judged, after = store.factor_attempt(f.id, STEP, start + WRONG_WINDOW + 1)
    assert judged.verdict is Verdict.ACCEPTED and after.verified
    for i in range(MAX_WRONG - 1):  # the right code forgave the wrong ones: a fresh budget
        assert store.factor_attempt(f.id, None, start + WRONG_WINDOW + 2 + i)[0].verdict is Verdict.WRONG


def test_an_unknown_factor_is_missing(store: Store) -> None:
    judged, after = store.factor_attempt(NAMES.new_factor_id(IDENTITY), STEP, time.time())
    assert judged.verdict is Verdict.MISSING and after is None


def test_delete_unlists_and_writes_its_event_once(store: Store, clock) -> None:
    f = enrol(store, clock())
    kept = enrol(store, clock() + 1, name="bob")
    assert store.factor_delete(f.id)
    assert not store.factor_delete(f.id)
    assert store.factor_get(f.id) is None and [g.id for g in store.factor_list(IDENTITY)] == [kept.id]
    (logged,) = store.collect_events(lambda e: [""])
    assert (logged.type, logged.resource, logged.record["f"]) == ("factor.deleted", f.id, "alice")
    assert "x" not in logged.record
    assert store.collect_events(lambda e: [""]) == []


def test_a_factors_event_names_its_service(store: Store, clock) -> None:
    f = enrol(store, clock(), scope="VA" + "2" * 32)
    store.factor_attempt(f.id, STEP, clock())
    (logged,) = store.collect_events(lambda e: [""])
    assert logged.service == "VA" + "2" * 32


def test_of_twenty_concurrent_attempts_with_one_step_exactly_one_is_accepted(store: Store, clock) -> None:
    f = enrol(store, clock())
    barrier = threading.Barrier(20)
    verdicts: list[Verdict] = []

    def attempt() -> None:
        barrier.wait()
        verdicts.append(store.factor_attempt(f.id, STEP, clock())[0].verdict)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verdicts.count(Verdict.ACCEPTED) == 1 and verdicts.count(Verdict.REPLAYED) == 19
    assert [e.type for e in store.collect_events(lambda e: [""])] == ["factor.verified"]


def test_factors_listed_under_an_older_key_are_still_listed(store: Store, clock) -> None:
    store.names = KeyNames(OLD_SECRET)  # enrolled before a SECRET_KEY rotation
    old = enrol(store, clock())
    store.names = KeyNames(SECRET, (OLD_SECRET,))  # rotated: the old secret is a fallback
    new = enrol(store, clock() + 1)
    assert old.id[3:11] != new.id[3:11]  # the identity's tag changed with the key
    assert [f.id for f in store.factor_list(IDENTITY)] == [old.id, new.id]
    assert store.factor_delete(old.id)  # its index, named under the old key, loses it too
    assert [f.id for f in store.factor_list(IDENTITY)] == [new.id]


def test_challenges_are_kept_listed_per_factor_then_forgotten(store: Store, clock) -> None:
    f = enrol(store, clock())
    other = enrol(store, clock(), identity="someone-else-01")
    now = store.now()
    sids = [f"YC{f.id[3:11]}{n:024x}" for n in range(3)]
    for n, sid in enumerate(sids):
        store.challenge_put(sid, f.id, f'{{"n": {n}}}', now + 60)
    store.challenge_put(f"YC{other.id[3:11]}{9:024x}", other.id, "{}", now + 60)
    store.challenge_put(sids[0], f.id, '{"n": 0, "approved": true}', now + 60)  # an update
    assert store.challenge_get(sids[0]) == '{"n": 0, "approved": true}'
    assert sorted(store.challenge_list(f.id)) == sorted(['{"n": 0, "approved": true}', '{"n": 1}', '{"n": 2}'])
    assert store.challenge_get(f"YC{f.id[3:11]}{7:024x}") is None
    gone = f"YC{f.id[3:11]}{8:024x}"
    store.challenge_put(gone, f.id, '{"gone": true}', now - 1)  # already past its time
    assert store.challenge_get(gone) is None and '{"gone": true}' not in store.challenge_list(f.id)


@pytest.mark.redis
def test_a_factors_keys_share_its_identitys_slot_and_hold_no_secret(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, NAMES)
    f = enrol(store, time.time())
    store.challenge_put(f"YC{f.id[3:11]}{1:024x}", f.id, "{}", time.time() + 60)
    store.factor_attempt(f.id, STEP, time.time())
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    found = [k for k in client.keys("otp:*") if "{events}" not in k]
    assert {k.split("{", 1)[1].split("}", 1)[0] for k in found} == {f.id[3:11]}
    assert keys.factor(f.id) in found and keys.outbox(f.id[3:11]) in found
    assert IDENTITY not in " ".join(found)  # the identity is named by a keyed digest
