"""What an outside security review broke in the store and the service (issue 11), on both stores:
refusals that changed state, the per-IP limit, concurrent resends, a store stall, inbound
retries, the store's clock, a second fallback call, metered replies, and numbers in key names."""

from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
import redis
import responses
from conftest import (
    BASE_CONFIG,
    BASE_URL,
    NUMBER,
    TOPOLOGIES,
    TWILIO,
    TWILIO_API,
    Clock,
    RedisServer,
    newest_code,
    signed_post,
    start,
)
from flask import Flask
from flask.testing import FlaskClient
from redis.cluster import RedisCluster

from app import create_app
from telephony.store.base import EXPIRY_GRACE
from telephony.store.memory import MemoryStore
from telephony.store.redis import RedisStore

VICTIM = "+14155550123"


def store_of(app: Flask):
    return app.extensions["verification"].store


def snapshot(app: Flask) -> dict:
    """Everything the store holds: every key (value and expiry) on Redis, every table in memory."""
    store = store_of(app)
    if isinstance(store, MemoryStore):
        state = {k: v for k, v in vars(store).items() if k not in ("_lock", "_clock", "names")}
        return copy.deepcopy(state)
    if isinstance(store._redis, RedisCluster):  # every key on every primary
        nodes = [redis.Redis(host=n.host, port=n.port) for n in store._redis.get_primaries()]
    else:
        nodes = [redis.Redis(connection_pool=store._redis.connection_pool)]
    return {key: (c.dump(key), c.pttl(key)) for c in nodes for key in sorted(c.keys("otp:*"))}


def assert_unchanged(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):  # Redis: (dump, pttl)
            assert after[key][0] == value[0], key
            assert (after[key][1] < 0) == (value[1] < 0), key  # no expiry added or removed
            assert 0 <= value[1] - after[key][1] < 2000 or value[1] < 0, key  # nor moved: it only ran down
        else:
            assert after[key] == value, key


# --- 1. a refused start changes nothing --------------------------------------------------------


def _opted_out(app: Flask, client: FlaskClient) -> None:
    store_of(app).set_opted_out(VICTIM, True)


def _pump(app: Flask, client: FlaskClient) -> None:
    for n in range(2):
        assert start(client, f"+1415555{n + 200:04d}").status_code == 201


PUMPING = {
    "OTP_PUMPING_MIN_SENDS": "3",
    "OTP_PUMPING_MIN_RATIO": "0.5",
    "OTP_LIMIT_PREFIX": "off",
    "OTP_LIMIT_IP": "off",
}
REFUSALS: dict[str, tuple[dict, Callable[[Flask, FlaskClient], None], dict, int]] = {
    # kind: (settings, setup, the refused start's extra fields and headers, status)
    "ip": ({"OTP_LIMIT_IP": "1/600"}, lambda app, c: start(c, "+14155550177"), {}, 429),
    "api key": (
        {"API_KEYS": "k" * 32, "OTP_LIMIT_API_KEY": "1/3600"},
        lambda app, c: start(c, "+14155550177", headers={"Authorization": "Bearer " + "k" * 32}),
        {"headers": {"Authorization": "Bearer " + "k" * 32}},
        429,
    ),
    "country": ({"OTP_LIMIT_COUNTRY": "1/3600"}, lambda app, c: start(c, "+12125550177"), {}, 429),
    "number": ({"OTP_LIMIT_NUMBER": "1/600"}, lambda app, c: start(c, VICTIM, "call"), {}, 429),
    "prefix": ({"OTP_LIMIT_PREFIX": "1/3600"}, lambda app, c: start(c, "+14155550177"), {}, 429),
    "pumping": (PUMPING, lambda app, c: (_pump(app, c), start(c, "+14155550300")), {}, 429),
    "opted out": ({}, _opted_out, {}, 403),
    "country not allowed": ({"OTP_ALLOWED_COUNTRIES": "FR"}, lambda app, c: None, {}, 403),
    "destination": ({}, lambda app, c: None, {"to": "+19005550100"}, 403),
    "invalid number": ({}, lambda app, c: None, {"to": "+1415"}, 400),
}


@pytest.mark.parametrize("store_kind", TOPOLOGIES, indirect=True)
@pytest.mark.parametrize("kind", REFUSALS)
def test_every_refusal_leaves_the_store_exactly_as_it_was(make_app, kind: str) -> None:
    """On every store, a 3-primary Cluster and Sentinel included: nothing changes on any node."""
    settings, setup, extra, status = REFUSALS[kind]
    app = make_app(**settings)
    client = app.test_client()
    setup(app, client)
    store_of(app).set_opted_out("+14155550188", True)  # a bystander's record, so no snapshot is empty
    before = snapshot(app)
    assert any(before.values())  # the snapshot sees what the store holds
    fields = dict(extra)
    response = start(client, str(fields.pop("to", VICTIM)), **fields)
    assert response.status_code == status, response.get_json()
    assert_unchanged(before, snapshot(app))


def test_a_refused_resend_leaves_the_store_exactly_as_it_was(make_app) -> None:
    app = make_app()
    client = app.test_client()
    v = start(client, VICTIM).get_json()
    before = snapshot(app)
    assert client.post(f"/v1/verifications/{v['id']}/resend", json={}).status_code == 429  # the cooldown
    assert_unchanged(before, snapshot(app))


def test_starts_refused_for_a_victim_s_number_do_not_touch_the_victim(make_app) -> None:
    """The review's attack: one IP, refused by its own limit, aims at a victim's number."""
    app = make_app(OTP_LIMIT_IP="1/600", OTP_LIMIT_NUMBER="5/600", OTP_LIMIT_PREFIX="off")
    victim, victim_again = app.test_client(), app.test_client()
    victim_again.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    v = start(victim, VICTIM).get_json()
    assert start(attacker, "+14155550177").status_code == 201  # the attacker's one allowed start
    assert [start(attacker, VICTIM).status_code for _ in range(6)] == [429] * 6
    check = victim.post("/v1/verification-checks", json={"to": VICTIM, "code": newest_code(victim, VICTIM)})
    assert check.status_code == 200 and check.get_json()["valid"] and check.get_json()["id"] == v["id"]
    assert start(victim_again, VICTIM).status_code == 201  # the victim's own starts are not used up


# --- 3. the per-IP limit counts end users, not the backend -------------------------------------


def test_a_keyed_backend_is_counted_by_client_ip_and_key_not_by_its_own_address(make_app) -> None:
    key = "b" * 32
    client = make_app(API_KEYS=key, OTP_LIMIT_IP="1/600", OTP_LIMIT_NUMBER="off").test_client()
    auth = {"Authorization": f"Bearer {key}"}
    # Eleven users behind one backend address, none of them named: only the key is counted.
    assert [start(client, f"+1415555{n:04d}", headers=auth).status_code for n in range(300, 311)] == [201] * 11
    assert start(client, "+14155550400", client_ip="203.0.113.7", headers=auth).status_code == 201
    again = start(client, "+14155550401", client_ip="203.0.113.7", headers=auth)
    assert again.status_code == 429 and again.get_json()["error"]["code"] == "rate_limited"
    assert start(client, "+14155550402", client_ip="::ffff:203.0.113.7", headers=auth).status_code == 429
    assert start(client, "+14155550403", client_ip="2001:db8::1", headers=auth).status_code == 201
    bad = start(client, "+14155550404", client_ip="203.0.113.300", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_request"


def test_without_a_key_client_ip_is_ignored_and_the_remote_address_counts(make_app) -> None:
    client = make_app(OTP_LIMIT_IP="1/600").test_client()
    assert start(client, "+14155550400", client_ip="203.0.113.7").status_code == 201
    assert start(client, "+14155550401", client_ip="203.0.113.8").status_code == 429


# --- 6. concurrent resends respect the cooldown ------------------------------------------------


def test_four_concurrent_resends_place_one_call(make_app, twilio_api: responses.RequestsMock) -> None:
    slow = threading.Event()

    def slow_call(request: object) -> tuple[int, dict, str]:
        slow.wait(0.3)  # a provider that takes its time: every resend is in flight at once
        body = f'{{"sid": "CA{"0" * 31}1", "status": "queued", "account_sid": "{TWILIO["TWILIO_ACCOUNT_SID"]}"}}'
        return 201, {"Content-Type": "application/json"}, body

    twilio_api.remove(responses.POST, f"{TWILIO_API}/Calls.json")
    twilio_api.add_callback(responses.POST, f"{TWILIO_API}/Calls.json", callback=slow_call)
    app = make_app(OTP_PROVIDER="twilio", **TWILIO)
    v = start(app.test_client()).get_json()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def resend() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=resend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 429, 429, 429]
    calls = [c for c in twilio_api.calls if c.request.url.endswith("/Calls.json")]
    assert len(calls) == 1


# --- 11. a store timeout is honest -------------------------------------------------------------


@pytest.mark.redis
def test_a_check_caught_in_a_redis_stall_says_its_outcome_is_unknown(redis_url: str) -> None:
    app = create_app({**BASE_CONFIG, "REDIS_URL": redis_url})
    client = app.test_client()
    v = start(client).get_json()
    code = newest_code(client, NUMBER)
    wrong = "000000" if code != "000000" else "111111"
    # One check first, so the server knows the check script: else the stalled EVALSHA would meet
    # NOSCRIPT once the server wakes, and this test would hinge on which test loaded it before.
    assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": wrong}).status_code == 200
    stall = threading.Thread(target=lambda: redis.Redis.from_url(redis_url).execute_command("DEBUG", "SLEEP", "3"))
    stall.start()
    time.sleep(0.2)
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    stall.join()
    body = response.get_json()
    assert response.status_code == 503 and body["error"]["code"] == "store_unavailable"
    assert body["outcome"] == "unknown" and "GET" in body["error"]["message"]
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["status"] == "approved"  # GET tells


@pytest.mark.redis
def test_a_store_that_cannot_be_reached_says_nothing_was_changed(redis_server: RedisServer, redis_url: str) -> None:
    client = create_app({**BASE_CONFIG, "REDIS_URL": redis_url}).test_client()
    v = start(client).get_json()
    redis_server.stop()
    try:
        response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": "000000"})
    finally:
        redis_server.start()
    assert response.status_code == 503 and response.get_json()["outcome"] == "not_applied"


# --- 12. inbound SMS is marked seen only once handled -------------------------------------------


@pytest.mark.redis
def test_a_stop_whose_handling_failed_is_handled_on_the_carriers_retry(
    redis_url: str, twilio_api: responses.RequestsMock
) -> None:
    app = create_app({**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO})
    client = app.test_client()
    admin = redis.Redis.from_url(redis_url)
    params = {"MessageSid": "SMstop1", "From": NUMBER, "To": TWILIO["TWILIO_FROM"], "Body": "STOP"}
    # A store that takes the de-duplication mark but fails the opt-out itself.
    admin.execute_command("ACL", "SETUSER", "default", "resetkeys", "%R~*", "~*:e:*", "~*:evt:*")
    try:
        assert signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params).status_code == 503
    finally:
        admin.execute_command("ACL", "SETUSER", "default", "allkeys")
    retry = signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params)
    assert retry.status_code == 200 and ET.fromstring(retry.get_data()).findall("Message")
    assert start(client, NUMBER).status_code == 403  # opted out
    again = signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params)
    assert again.status_code == 200 and ET.fromstring(again.get_data()).findall("Message") == []  # handled once


# --- 13. one clock decides expiry -------------------------------------------------------------


@pytest.mark.redis
def test_a_web_host_with_a_fast_clock_cannot_lengthen_a_code_s_life(redis_url: str) -> None:
    fast = Clock()
    fast.advance(3600)
    client = create_app({**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_TTL": "1"}, clock=fast).test_client()
    v = start(client).get_json()
    code = newest_code(client, NUMBER)
    key = next(k for k in redis.Redis.from_url(redis_url, decode_responses=True).keys("otp:*:v:*"))
    raw = redis.Redis.from_url(redis_url)
    server_ms = int(raw.time()[0]) * 1000
    assert 0 < int(raw.hget(key, "e")) - server_ms <= 2000  # expires by the server's clock
    assert raw.pttl(key) <= 1000 + EXPIRY_GRACE * 1000  # kept a while longer only for its expiry event
    assert abs(time.mktime(time.strptime(v["created_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone - time.time()) < 5
    time.sleep(1.1)
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert response.status_code == 404


@pytest.mark.redis
def test_the_redis_store_s_clock_is_the_server_s(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    seconds, micros = redis.Redis.from_url(redis_url).time()
    assert abs(store.now() - (seconds + micros / 1e6)) < 0.05


# --- 14. the fallback never places a second call ------------------------------------------------


def test_the_fallback_timer_places_no_call_after_the_user_asked_for_one(
    make_app, clock: Clock, twilio_api: responses.RequestsMock
) -> None:
    app = make_app(OTP_PROVIDER="twilio", **TWILIO)
    client = app.test_client()
    v = start(client, channel="auto").get_json()
    assert client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"}).status_code == 200
    clock.advance(61)
    app.extensions["verification"].fire_due_timers()
    calls = [c for c in twilio_api.calls if c.request.url.endswith("/Calls.json")]
    assert len(calls) == 1


def test_a_failed_sms_after_a_call_places_no_second_call(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    v = start(client, channel="auto").get_json()
    assert client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"}).status_code == 200
    message = parse_qs(twilio_api.calls[0].request.body)
    receipt = {"MessageSid": v["sends"][0]["provider_id"], "MessageStatus": "undelivered"}
    assert signed_post(client, message["StatusCallback"][0], receipt).status_code == 204
    assert len([c for c in twilio_api.calls if c.request.url.endswith("/Calls.json")]) == 1


# --- 15. keyword replies are metered -------------------------------------------------------------


def _help(client: FlaskClient, sender: str, n: int) -> list[ET.Element]:
    params = {"MessageSid": f"SMhelp{n}", "From": sender, "To": TWILIO["TWILIO_FROM"], "Body": "HELP"}
    response = signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params)
    assert response.status_code == 200
    return ET.fromstring(response.get_data()).findall("Message")


def test_no_reply_goes_to_a_number_the_api_would_refuse(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    assert [len(_help(client, "+19005550100", n)) for n in range(40)] == [0] * 40  # US premium rate


def test_keyword_replies_have_a_limit_per_number(make_app, twilio_api: responses.RequestsMock) -> None:
    client = make_app(OTP_PROVIDER="twilio", OTP_LIMIT_REPLIES="3/3600", **TWILIO).test_client()
    assert [len(_help(client, NUMBER, n)) for n in range(5)] == [1, 1, 1, 0, 0]
    assert len(_help(client, "+14155550177", 99)) == 1  # another number has its own


# --- 17. neither ids nor key names disclose numbers ---------------------------------------------


@pytest.mark.redis
def test_redis_key_names_and_ids_hold_no_number(redis_url: str, twilio_api: responses.RequestsMock) -> None:
    config = {**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO,
              "OTP_PUMPING_MIN_SENDS": "20", "OTP_LIMIT_CHECKS": "10/14400"}  # fmt: skip
    client = create_app(config).test_client()
    v = start(client).get_json()
    client.post(f"/v1/verifications/{v['id']}/check", json={"code": "000000"})
    params = {"MessageSid": "SMk1", "From": NUMBER, "To": TWILIO["TWILIO_FROM"], "Body": "HELP"}
    signed_post(client, f"{BASE_URL}/webhooks/twilio/sms", params)
    names = redis.Redis.from_url(redis_url, decode_responses=True).keys("otp:*")
    assert len(names) >= 6
    for digits in ("14155550100", "4155550100", "1415555", "415555", "5550100"):
        assert not any(digits in name for name in names), names
    unkeyed_tag = hashlib.blake2b(NUMBER[:-4].encode(), digest_size=4).hexdigest()
    assert v["id"][3:11] != unkeyed_tag
    other = create_app({**config, "SECRET_KEY": "another-secret-key-0123456789abcd"}).test_client()
    assert start(other, NUMBER).get_json()["id"][3:11] != v["id"][3:11]  # the tag needs the key


@pytest.mark.redis
def test_names_survive_a_secret_key_rotation(redis_url: str, twilio_api: responses.RequestsMock) -> None:
    old = {**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO}
    before = create_app(old).test_client()
    v = start(before).get_json()
    code = re.search(r"\b(\d{6})\b", parse_qs(twilio_api.calls[-1].request.body)["Body"][0]).group(1)
    stop = {"MessageSid": "SMrot", "From": VICTIM, "To": TWILIO["TWILIO_FROM"], "Body": "STOP"}
    assert signed_post(before, f"{BASE_URL}/webhooks/twilio/sms", stop).status_code == 200
    rotated = {**old, "SECRET_KEY": "the-new-secret-key-0123456789abcdef", "SECRET_KEY_FALLBACKS": old["SECRET_KEY"]}
    after = create_app(rotated).test_client()
    assert start(after, VICTIM).status_code == 403  # the STOP made before the rotation still holds
    check = after.post("/v1/verification-checks", json={"to": NUMBER, "code": code})
    assert check.status_code == 200 and check.get_json()["valid"] and check.get_json()["id"] == v["id"]
    start_again = {**stop, "MessageSid": "SMrot2", "Body": "START"}
    assert signed_post(after, f"{BASE_URL}/webhooks/twilio/sms", start_again).status_code == 200
    assert start(after, VICTIM).status_code == 201  # and a START after it clears it


@pytest.mark.redis
def test_opt_outs_outlive_the_fallback_once_the_worker_renamed_them(
    redis_url: str, twilio_api: responses.RequestsMock
) -> None:
    """Opt-outs never expire: the worker names them under the new key while the old is a fallback."""
    old = {**BASE_CONFIG, "REDIS_URL": redis_url, "OTP_PROVIDER": "twilio", **TWILIO}
    stop = {"MessageSid": "SMrk", "From": VICTIM, "To": TWILIO["TWILIO_FROM"], "Body": "STOP"}
    assert signed_post(create_app(old).test_client(), f"{BASE_URL}/webhooks/twilio/sms", stop).status_code == 200
    new_key = "the-new-secret-key-0123456789abcdef"
    rotating = create_app({**old, "SECRET_KEY": new_key, "SECRET_KEY_FALLBACKS": old["SECRET_KEY"]})
    assert rotating.test_cli_runner().invoke(args=["otp", "worker", "--once"]).exit_code == 0
    after = create_app({**old, "SECRET_KEY": new_key}).test_client()  # the fallback dropped
    assert start(after, VICTIM).status_code == 403
    assert start(after, NUMBER).status_code == 201


def legacy_opt_out(admin: redis.Redis, e164: str) -> str:
    """An opt-out as releases before keyed names wrote it (an unkeyed tag, the number in the name)."""
    key = "otp:{" + hashlib.blake2b(e164[:-4].encode(), digest_size=4).hexdigest() + "}:optout:" + e164
    admin.set(key, "1")
    return key


@pytest.mark.redis
def test_rekey_moves_opt_outs_named_by_an_older_release(redis_url: str) -> None:
    """Releases before keyed names kept `otp:{tag}:optout:<e164>`: upgrading must not forget a STOP."""
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    legacy = legacy_opt_out(admin, VICTIM)
    app = create_app({**BASE_CONFIG, "REDIS_URL": redis_url})
    result = app.test_cli_runner().invoke(args=["otp", "rekey"])
    assert result.exit_code == 0 and "renamed 1 opt-out" in result.output
    assert admin.exists(legacy) == 0
    assert not any(VICTIM[1:] in name for name in admin.keys("otp:*"))
    assert start(app.test_client(), VICTIM).status_code == 403
    assert "renamed 0 opt-out" in app.test_cli_runner().invoke(args=["otp", "rekey"]).output


@pytest.mark.redis
def test_the_worker_scans_for_opt_outs_to_rename_only_during_a_rotation(redis_url: str) -> None:
    """The rename walks every key: a worker start without SECRET_KEY_FALLBACKS leaves it to `otp rekey`."""
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    legacy = legacy_opt_out(admin, VICTIM)
    app = create_app({**BASE_CONFIG, "REDIS_URL": redis_url})
    assert app.test_cli_runner().invoke(args=["otp", "worker", "--once"]).exit_code == 0
    assert admin.exists(legacy) == 1
