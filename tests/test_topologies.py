"""Scale-out (issue 14): REDIS_URL's Cluster and Sentinel forms, readiness on every primary, and a
Sentinel failover under load. The store contract and the API flows also run on both topologies
(tests/test_store_contract.py, tests/test_api.py, tests/test_twilio_flow.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import redis
from conftest import BASE_CONFIG, NUMBER, ROOT, newest_code, started
from live_server import Gunicorn
from topologies import start_cluster, start_sentinel

from app import create_app
from telephony.config import load_settings
from telephony.errors import ConfigError

pytestmark = pytest.mark.redis


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:secret@cache.example.com:6380/0",
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
        "rediss+cluster://:secret@10.0.0.1:7000",
        "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster",
        "rediss+sentinel://user:secret@10.0.0.1:26379/mymaster",
    ],
)
def test_every_documented_redis_url_form_is_accepted(url: str) -> None:
    assert load_settings({**BASE_CONFIG, "REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("memcached://127.0.0.1:11211", "must start with one of"),
        ("redis+cluster://10.0.0.1", "host:port"),
        ("redis+sentinel://10.0.0.1:26379", "Sentinel service"),
    ],
)
def test_a_malformed_redis_url_is_refused_by_name(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE_CONFIG, "REDIS_URL": url})
    assert "REDIS_URL" in str(refused.value) and says in str(refused.value)


def test_readiness_needs_every_cluster_primary(tmp_path) -> None:
    cluster = start_cluster(tmp_path)
    try:
        client = create_app({**BASE_CONFIG, "REDIS_URL": cluster.url}).test_client()
        assert client.get("/readyz").status_code == 200
        assert started(client)["status"] == "pending"
        cluster.processes[1].terminate()  # one of three primaries goes away
        cluster.processes[1].wait(10)
        assert client.get("/readyz").status_code == 503
    finally:
        cluster.stop()


@pytest.mark.slow
def test_a_sentinel_failover_loses_no_acknowledged_verification_and_approves_once(tmp_path) -> None:
    sentinel = start_sentinel(tmp_path)
    try:
        client = create_app({**BASE_CONFIG, "REDIS_URL": sentinel.url}).test_client()
        assert client.get("/readyz").status_code == 200
        v = started(client)
        code = newest_code(client)
        primary = redis.Redis(port=sentinel.data_ports[0])
        primary.execute_command("WAIT", 1, 2000)  # the replica has it (what AOF plus a replica buys)
        sentinel.processes[0].terminate()  # the primary dies
        sentinel.processes[0].wait(10)
        answers: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # during the failover: a success or a 503, never a 500
            status = client.get(f"/v1/verifications/{v['id']}").status_code
            answers.append(status)
            if status == 200:
                break
            time.sleep(0.2)
        assert answers[-1] == 200 and set(answers) <= {200, 503}, answers
        results: list[int] = []

        def check() -> None:
            results.append(client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).status_code)

        threads = [threading.Thread(target=check) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200] + [409] * 7  # the promoted replica approves exactly once
        assert client.get(f"/v1/verifications/{v['id']}").get_json()["status"] == "approved"
        assert client.get("/readyz").status_code == 200  # recovered without a restart
    finally:
        sentinel.stop()


def test_many_instances_on_one_cluster_approve_once_and_count_limits_together(redis_cluster) -> None:
    redis_cluster.flush()
    config = {**BASE_CONFIG, "REDIS_URL": redis_cluster.url, "OTP_LIMIT_NUMBER": "3/600", "OTP_RESEND_COOLDOWN": "0"}
    first, second = (create_app(config).test_client() for _ in range(2))
    v = started(first)
    code = newest_code(first)
    assert second.post("/v1/verifications", json={"to": NUMBER}).status_code == 200  # the same, again
    assert first.post("/v1/verifications", json={"to": NUMBER}).status_code == 200
    assert second.post("/v1/verifications", json={"to": NUMBER}).status_code == 429  # 3 sends, counted across
    results: list[int] = []

    def check(client) -> None:
        results.append(client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).status_code)

    threads = [threading.Thread(target=check, args=(c,)) for c in (first, second) * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 9


@pytest.mark.slow
def test_a_cluster_failover_under_load_keeps_every_guarantee(tmp_path) -> None:
    """A primary fails over to its replica while starts and checks run: every answer a success or a
    503, every acknowledged verification still there, none approved twice, no restart needed."""
    cluster = start_cluster(tmp_path, replicas=True)
    try:
        config = {**BASE_CONFIG, "REDIS_URL": cluster.url, "OTP_LIMIT_NUMBER": "off", "OTP_LIMIT_PREFIX": "off",
                  "OTP_LIMIT_IP": "off", "OTP_LIMIT_COUNTRY": "off", "OTP_PUMPING_MIN_SENDS": "off"}  # fmt: skip
        client = create_app(config).test_client()
        acknowledged: dict[str, str] = {}  # id -> code, for every start answered 201
        statuses: list[int] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post("/v1/verifications", json={"to": f"+1415555{n % 9000 + 1000:04d}"})
                statuses.append(response.status_code)
                if response.status_code == 201:
                    body = response.get_json()
                    acknowledged[body["id"]] = newest_code(client)

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(1.0)
        replica = redis.Redis(port=cluster.data_ports[3])
        replica.execute_command("CLUSTER", "FAILOVER")  # its primary steps down, the replica takes over
        deadline = time.monotonic() + 15
        while replica.info("replication")["role"] != "master" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        worker.join()
        assert replica.info("replication")["role"] == "master"
        assert set(statuses) <= {201, 200, 503}, sorted(set(statuses))
        assert len(acknowledged) > 10
        results: dict[str, list[int]] = {vid: [] for vid in acknowledged}
        for vid, code in acknowledged.items():
            for _ in range(2):
                results[vid].append(client.post(f"/v1/verifications/{vid}/check", json={"code": code}).status_code)
        assert all(r == [200, 409] for r in results.values()), results  # there, and approved exactly once
        assert client.get("/readyz").status_code == 200
    finally:
        cluster.stop()


@pytest.mark.slow
def test_two_gunicorns_and_two_workers_on_one_cluster(redis_cluster, tmp_path) -> None:
    """Many instances on one Cluster: right checks approve once across servers, limits count across
    them, and each fallback timer fires once however many workers poll."""
    redis_cluster.flush()
    env = {**BASE_CONFIG, "REDIS_URL": redis_cluster.url, "WEB_CONCURRENCY": "2", "OTP_FALLBACK_AFTER": "5",
           "OTP_LIMIT_NUMBER": "3/600", "OTP_RESEND_COOLDOWN": "0"}  # fmt: skip
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    servers = [Gunicorn(env, tmp_path / name) for name in ("a", "b")]
    workers = [
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "otp", "worker", "--interval", "0.2"],
                         cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]  # fmt: skip
    json_headers = {"Content-Type": "application/json"}
    try:
        a, b = servers
        autos = [a.request("POST", "/v1/verifications", headers=json_headers,
                           body=json.dumps({"to": f"+1415555{n:04d}", "channel": "auto"}).encode()).json()
                 for n in range(200, 205)]  # fmt: skip
        body = json.dumps({"to": NUMBER}).encode()
        statuses = [s.request("POST", "/v1/verifications", headers=json_headers, body=body).status for s in (a, b, a, b)]
        assert statuses == [201, 200, 200, 429]  # one number's 3 sends, counted across both servers
        other = json.dumps({"to": "+14155550999"}).encode()
        vid = b.request("POST", "/v1/verifications", headers=json_headers, body=other).json()["id"]
        newest = a.request("GET", "/dev/outbox").json()["sends"][0]  # the outbox is the shared store's
        assert newest["to"] == "+14155550999"
        code = re.search(r"\b(\d{6})\b", newest["body"]).group(1)
        results: list[int] = []
        check = json.dumps({"code": code}).encode()

        def right(server: Gunicorn) -> None:
            results.append(server.request("POST", f"/v1/verifications/{vid}/check", headers=json_headers, body=check).status)

        threads = [threading.Thread(target=right, args=(s,)) for s in (a, b) * 5]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200] + [409] * 9
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            calls = [[s["channel"] for s in b.request("GET", f"/v1/verifications/{v['id']}").json()["sends"]].count("call")
                     for v in autos]  # fmt: skip
            if all(calls):
                break
            time.sleep(0.3)
        time.sleep(1.0)  # a second firing, were there one, would show by now
        calls = [[s["channel"] for s in a.request("GET", f"/v1/verifications/{v['id']}").json()["sends"]].count("call")
                 for v in autos]  # fmt: skip
        assert calls == [1] * len(autos)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(10)
        for server in servers:
            server.stop()


def test_a_node_that_lost_its_scripts_reruns_only_what_did_not_run(redis_cluster) -> None:
    """After a restart or a failover a primary has no scripts (NOSCRIPT): the pipelined counting
    scripts are loaded again and only those that failed run again; none counts twice."""
    from redis.cluster import RedisCluster

    from telephony.limits import Counter, Rule, SendPlan
    from telephony.store.keys import KeyNames, scope_limit
    from telephony.store.redis import RedisStore

    redis_cluster.flush()
    names = KeyNames("topology-test-secret-0123456789abcdef")
    store = RedisStore.from_url(redis_cluster.url, names)
    cluster = store._redis
    assert isinstance(cluster, RedisCluster)
    scopes = [names.client("ip", f"203.0.113.{n}") for n in range(12)]  # spread over the three primaries
    rule = Rule(100, 600)
    plan = SendPlan(NUMBER, (), (), tuple(Counter(scope, rule) for scope in scopes), None, check_opt_out=False)
    assert store.admit(plan).ok
    slots = {scope: cluster.keyslot(scope_limit(scope, rule.window)) for scope in scopes}
    flushed = cluster.get_node_from_key(scope_limit(scopes[0], rule.window))
    redis.Redis(host=flushed.host, port=flushed.port).script_flush()  # one primary forgets them
    assert store.admit(plan).ok
    counts = {scope: int(cluster.get(scope_limit(scope, rule.window))) for scope in scopes}
    assert counts == dict.fromkeys(scopes, 2), counts
    assert len({cluster.nodes_manager.get_node_from_slot(s).name for s in slots.values()}) > 1  # several nodes
