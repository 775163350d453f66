"""A check and a start on a 3-primary Redis Cluster next to one Redis, in the same run, and Redis
memory per pending verification on each.

In-process (the Flask test client, no HTTP server), so the figures compare the store's round trips
and routing, not a server model: each topology gets the same app settings, the same warm-up and
the same number of requests, one after the other. Memory is INFO used_memory summed over the
primaries, before and after 2 000 pending verifications made by the service itself.

    python bench/topology.py          # about 30 s; prints a table and the load average beside it
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from app import create_app
from bench import seed
from bench.common import RedisServer, app_settings, quiet
from tests.topologies import start_cluster

CHECKS, STARTS, PENDING = 400, 200, 2000


def measure(url: str, primaries: list[int]) -> dict[str, float]:
    config = {**app_settings(0, 5000), "REDIS_URL": url}
    app = create_app(config)
    quiet()
    client, auth = app.test_client(), seed.api_headers()
    v = client.post("/v1/verifications", json={"to": seed.NUMBERS[0]}, headers=auth).get_json()
    wrong = {"code": "000000"}

    def timed(call: object, n: int) -> float:
        samples = []
        for i in range(n):
            began = time.perf_counter()
            call(i)  # type: ignore[operator]
            samples.append(time.perf_counter() - began)
        return statistics.median(samples) * 1e6

    for _ in range(20):  # warm-up: connections, script loads, the slot map
        client.post(f"/v1/verifications/{v['id']}/check", json=wrong, headers=auth)
    check = timed(lambda i: client.post(f"/v1/verifications/{v['id']}/check", json=wrong, headers=auth), CHECKS)
    start = timed(lambda i: client.post("/v1/verifications", json={"to": seed.number(1 + i)}, headers=auth), STARTS)

    def used() -> int:
        return sum(int(redis.Redis(port=p).info("memory")["used_memory"]) for p in primaries)

    before = used()
    for i in range(PENDING):
        client.post("/v1/verifications", json={"to": seed.number(10_000 + i)}, headers=auth)
    return {"check_us": check, "start_us": start, "bytes": (used() - before) / PENDING}


def main() -> None:
    load = os.getloadavg()
    with RedisServer() as server:
        single = measure(server.url, [server.port])
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = start_cluster(workdir)
    try:
        clustered = measure(cluster.url, cluster.data_ports)
    finally:
        cluster.stop()
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| | one Redis | 3-primary Cluster | Cluster ÷ one |\n| --- | --- | --- | --- |")
    for key, label in (("check_us", "check (wrong code), median µs"), ("start_us", "start, median µs"),
                       ("bytes", "memory per pending verification, bytes")):  # fmt: skip
        print(f"| {label} | {single[key]:,.0f} | {clustered[key]:,.0f} | {clustered[key] / single[key]:.2f} |")


if __name__ == "__main__":
    main()
