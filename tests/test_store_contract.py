"""One contract for both stores: the in-memory one and Redis (a real redis-server)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
import redis
from conftest import TOPOLOGIES, store_url

from telephony.codes import CodeVault
from telephony.eventlog import Delivery, DeliveryStatus
from telephony.lifecycle import CheckOutcome
from telephony.models import Attempt, Status, Verification
from telephony.store import KeyNames, MemoryStore, Store, keys
from telephony.store.redis import RedisStore

VAULT = CodeVault("store-contract-secret-0123")
NAMES = KeyNames("store-contract-secret-0123")
NUMBER = "+14155550100"


@pytest.fixture(params=TOPOLOGIES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(store_kind: str, clock: Callable[[], float], request: pytest.FixtureRequest) -> Store:
    if store_kind == "memory":
        return MemoryStore(clock=clock, names=NAMES)
    return RedisStore.from_url(store_url(request, store_kind), NAMES)


def now_for(store: Store, clock) -> float:
    # Redis expires keys on its own clock; the memory store on the injected one.
    return time.time() if isinstance(store, RedisStore) else clock()


def make(now: float, *, code: str = "123456", ttl: float = 600, to: str = NUMBER) -> Verification:
    now = round(now, 3)  # the store keeps milliseconds
    vid = NAMES.new_verification_id(to)
    mac, sealed = VAULT.seal(vid, code)
    return Verification(
        id=vid, to=to, mode="sms", locale="en", status=Status.PENDING, checks_left=3, max_sends=5,
        created_at=now, expires_at=now + ttl, mac=mac, sealed=sealed,
        attempts=(Attempt(1, "sms", "console", "queued", round(now, 3)),),
    )  # fmt: skip


def test_create_then_get_round_trips_every_field(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    assert store.get(v.id) == v
    assert store.get(NAMES.new_verification_id(NUMBER)) is None
    assert store.latest_for(NUMBER) == v.id
    assert store.latest_for("+14155550199") is None


def test_save_is_compare_and_set(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    first = store.save(v.with_changes(locale="fr"))
    assert first is not None and first.version == 1
    assert store.save(v.with_changes(locale="de")) is None  # stale version: refused
    assert store.get(v.id) == first


def test_check_outcomes(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    outcome, after = store.check(v.id, VAULT.candidate_macs(v.id, "000000"))
    assert outcome is CheckOutcome.WRONG and after.checks_left == 2 and after.status == Status.PENDING
    outcome, after = store.check(v.id, VAULT.candidate_macs(v.id, "123456"))
    assert outcome is CheckOutcome.APPROVED and after.status == Status.APPROVED and after.checks_left == 2
    outcome, after = store.check(v.id, VAULT.candidate_macs(v.id, "123456"))
    assert outcome is CheckOutcome.NOT_PENDING and after.status == Status.APPROVED
    assert store.check(NAMES.new_verification_id(NUMBER), ["x"]) == (CheckOutcome.MISSING, None)


def test_spending_the_last_check_locks_the_verification(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    outcomes = [store.check(v.id, VAULT.candidate_macs(v.id, "999999"))[0] for _ in range(3)]
    assert outcomes == [CheckOutcome.WRONG] * 3
    assert store.get(v.id).status == Status.MAX_ATTEMPTS
    outcome, after = store.check(v.id, VAULT.candidate_macs(v.id, "123456"))
    assert outcome is CheckOutcome.MAX_ATTEMPTS and after.checks_left == 0


def test_a_check_bumps_the_version_so_a_concurrent_save_conflicts(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    store.check(v.id, VAULT.candidate_macs(v.id, "123456"))
    assert store.save(v.with_changes(status=Status.CANCELED)) is None
    assert store.get(v.id).status == Status.APPROVED


def test_rotated_key_macs_are_accepted(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    rotated = CodeVault("a-brand-new-secret-012345", ("store-contract-secret-0123",))
    assert store.check(v.id, rotated.candidate_macs(v.id, "123456"))[0] is CheckOutcome.APPROVED


def test_verifications_expire(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock), ttl=1))
    assert store.get(v.id) is not None
    if isinstance(store, RedisStore):
        time.sleep(1.1)
    else:
        clock.advance(1)
    assert store.get(v.id) is None
    assert store.latest_for(NUMBER) is None
    assert store.check(v.id, VAULT.candidate_macs(v.id, "123456"))[0] is CheckOutcome.MISSING
    assert store.save(v) is None


def test_exactly_one_of_twenty_concurrent_right_checks_approves(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    macs = VAULT.candidate_macs(v.id, "123456")
    barrier = threading.Barrier(20)
    outcomes: list[CheckOutcome] = []

    def worker() -> None:
        barrier.wait()
        outcomes.append(store.check(v.id, macs)[0])

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(CheckOutcome.APPROVED) == 1
    assert outcomes.count(CheckOutcome.NOT_PENDING) == 19


def test_outbox_keeps_newest_first_and_is_bounded(store: Store, request: pytest.FixtureRequest) -> None:
    for n in range(105):
        store.outbox_push({"id": f"CN{n}", "to": NUMBER, "channel": "sms", "body": "b", "at": "t"})
    entries = store.outbox_list()
    assert len(entries) == 100
    assert entries[0]["id"] == "CN104" and entries[-1]["id"] == "CN5"
    if isinstance(store, RedisStore):
        assert 0 < store._redis.ttl(keys.OUTBOX) <= 86400  # kept a day


@pytest.mark.redis
def test_a_forked_process_gets_a_redis_connection_of_its_own(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, NAMES)
    parent = store._redis.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a gunicorn worker forked after the store was used
        os.write(write, str(store._redis.client_id()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert int(os.read(read, 100)) != parent
    assert store.ping()  # and the parent's connection still works


@pytest.mark.redis
def test_redis_keys_of_one_number_share_a_hash_tag(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, NAMES)
    v = store.create(make(time.time()))
    keys = redis.Redis.from_url(redis_url, decode_responses=True).keys("otp:*")
    tags = {key.split("{", 1)[1].split("}", 1)[0] for key in keys}
    # The record, the number's newest, the tag's expiries and their stubs; the hint to the worker (its own slot).
    assert len(keys) == 6 and tags == {v.id[3:11], "events"}
    assert sorted(k for k in keys if "{events}" in k) == ["otp:{events}:hints", "otp:{events}:tags"]


def test_first_seen_is_true_once_per_event_and_ttl(store: Store, clock) -> None:
    v = make(now_for(store, clock))
    assert store.first_seen(v.id, "twilio:SM1:delivered", ttl=60) is True
    assert store.first_seen(v.id, "twilio:SM1:delivered", ttl=60) is False
    assert store.first_seen(v.id, "twilio:SM1:failed", ttl=60) is True
    assert store.first_seen(NUMBER, "twilio:SM1:delivered", ttl=60) is True
    results = []
    barrier = threading.Barrier(10)

    def claim() -> None:
        barrier.wait()
        results.append(store.first_seen(NUMBER, "plivo:race", ttl=60))

    threads = [threading.Thread(target=claim) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_a_long_provider_id_is_kept_whole(store: Store, clock) -> None:
    v = store.create(make(now_for(store, clock)))
    long_id = "mdr2-" + "f" * 90  # over the 60 characters carrier words and errors are cut to
    attempt = replace(v.attempts[0], provider_id=long_id, status="sent")
    saved = store.save(v.replace_attempt(0, attempt), previous=v)
    assert saved is not None and store.get(v.id) == saved
    assert store.get(v.id).attempts[0].provider_id == long_id


@pytest.mark.redis
def test_admission_reloads_its_scripts_after_a_script_flush(redis_url: str) -> None:
    from telephony.limits import Counter, Rule, SendPlan

    store = RedisStore.from_url(redis_url, NAMES)
    plan = SendPlan(NUMBER, (Rule(5, 600),), (), (Counter("ip:x", Rule(5, 600)),), None, check_opt_out=True)
    assert store.admit(plan).ok
    redis.Redis.from_url(redis_url).script_flush()
    assert store.admit(plan).ok


@pytest.mark.redis
def test_a_pending_verification_stays_in_redis_compact_encoding(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, NAMES)
    v = store.create(make(time.time()))
    store.save(v.replace_attempt(0, replace(v.attempts[0], provider_id="SM" + "f" * 32, status="sent")), previous=v)
    client = redis.Redis.from_url(redis_url)
    key = keys.verification(v.id)
    assert client.object("encoding", key) == b"listpack"
    assert max(len(value) for value in client.hvals(key)) <= 64
    # 1 144 as it was, a hashtable; 384 before the keyed names of the number and prefix (`n`, `q`)
    assert client.memory_usage(key) <= 448


def test_a_verification_has_one_timer_and_the_latest_schedule_wins(store: Store, clock) -> None:
    now = now_for(store, clock)
    store.schedule("vf_a", now + 5)
    store.schedule("vf_b", now + 7)
    store.schedule("vf_a", now + 10)  # a resent SMS re-arms the timer
    assert store.claim_due(now + 6, 10) == []
    assert store.claim_due(now + 8, 10) == ["vf_b"]
    assert store.claim_due(now + 10, 10) == ["vf_a"]
    assert store.claim_due(now + 100, 10) == []


# --- lifecycle events: the outbox, the log, leased and ordered deliveries ---------------------------


def _two_events(store: Store, clock) -> Verification:
    """One verification with two events, in order (the store writes what its callers say a change made)."""
    v = store.create(make(now_for(store, clock)))
    first = store.save(v.with_changes(checks_left=2), previous=v, event="verification.canceled")
    assert first is not None
    assert store.save(first.with_changes(checks_left=1), previous=first, event="verification.failed") is not None
    return v


def test_events_are_logged_once_however_often_collected(store: Store, clock) -> None:
    v = _two_events(store, clock)
    logged = store.collect_events(lambda e: [""])
    assert [(e.type, e.resource) for e in logged] == [("verification.canceled", v.id), ("verification.failed", v.id)]
    assert logged[0].record["k"] == "2" and "h" not in logged[0].record and "x" not in logged[0].record
    assert store.collect_events(lambda e: [""]) == []
    listed, more = store.list_events(None, 10)
    assert [e.id for e, _ in listed] == [e.id for e in logged] and not more
    assert all(d is not None and d.status == "pending" and d.attempts == 0 for _, d in listed)
    page, more = store.list_events(None, 1)
    assert [e.id for e, _ in page] == [logged[0].id] and more
    assert [e.id for e, _ in store.list_events(logged[0].id, 1)[0]] == [logged[1].id]


def test_a_resources_next_delivery_waits_for_the_one_before(store: Store, clock) -> None:
    _two_events(store, clock)
    first, second = store.collect_events(lambda e: [""])
    (claim,) = store.claim_deliveries(60, 10)
    assert claim.event.id == first.id and store.claim_deliveries(60, 10) == []  # leased, and the next waits
    retry = Delivery(DeliveryStatus.PENDING, 1, 500, next_attempt_at=store.now() - 1)
    assert store.finish_delivery(claim, retry)
    (again,) = store.claim_deliveries(60, 10)
    assert again.event.id == first.id and again.delivery.attempts == 1  # still the first: order kept
    assert store.finish_delivery(again, Delivery(DeliveryStatus.DELIVERED, 2, 200))
    (then,) = store.claim_deliveries(60, 10)
    assert then.event.id == second.id
    listed = dict((e.id, d) for e, d in store.list_events(None, 10)[0])
    assert listed[first.id] is not None and listed[first.id].status == "delivered" and listed[first.id].attempts == 2


def test_a_lost_lease_writes_nothing(store: Store, clock) -> None:
    _two_events(store, clock)
    store.collect_events(lambda e: [""])
    (claim,) = store.claim_deliveries(0.05, 10)
    clock.advance(1)
    time.sleep(0.1)  # the lease ends (Redis: on its own clock)
    (taken,) = store.claim_deliveries(60, 10)
    assert taken.key == claim.key and taken.token != claim.token
    assert not store.finish_delivery(claim, Delivery(DeliveryStatus.DELIVERED, 1, 200))
    assert store.finish_delivery(taken, Delivery(DeliveryStatus.DELIVERED, 1, 200))
