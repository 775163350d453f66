"""Memory per pending verification, and check latency with 1k and with 1M pending verifications.

    python bench/memory.py      # starts its own redis-server; about a minute

Memory: INFO `used_memory` before and after writing 100 000 pending verifications (each to its own
number: the verification hash plus the number's `latest` pointer, both with their expiry), divided
by 100 000. The records are those `VerificationService.start` leaves after an accepted Twilio SMS
(see seed.py); one written by the real service is compared with a seeded one.

Latency: the same wrong-code check, in-process (Flask test client -> service -> one EVALSHA over
loopback), timed call by call, against a database holding 1 000 pending verifications and one
holding 1 000 000, in interleaved rounds; plus Redis's own time per EVALSHA (INFO commandstats).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from app import create_app
from bench import seed
from bench.common import RedisServer, app_settings, quiet
from telephony.store import keys


@dataclass(frozen=True)
class Memory:
    count: int
    bytes_per_verification: float
    hash_usage: int  # MEMORY USAGE of one verification hash
    latest_usage: int  # MEMORY USAGE of one latest pointer
    encoding: str  # OBJECT ENCODING of the hash
    fields: int
    longest_field: tuple[str, int]  # the longest value: over hash-max-listpack-value, a hashtable
    service_hash_usage: int  # the same for a record written by VerificationService.start
    same_fields: bool


def flush(client: redis.Redis) -> None:
    """FLUSHALL without blocking Redis (a million keys take seconds), then wait until it is done."""
    client.flushall(asynchronous=True)
    while int(client.info("memory").get("lazyfree_pending_objects", 0)):
        time.sleep(0.1)


def _app(url: str, **overrides: str):  # -> Flask
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    app = create_app({**app_settings(port, 5000), "REDIS_URL": url, **overrides})
    quiet()
    return app


def measure_memory(url: str, count: int = 100_000) -> Memory:
    client = redis.Redis.from_url(url, decode_responses=True)
    flush(client)
    app = _app(url, SMS_PROVIDER="twilio")
    service = app.extensions["verification"]
    service.providers["twilio"].send_sms = lambda to, body, *, status_url: "SM" + "0" * 32  # no HTTP
    real = service.start(seed.number(119_999), "sms")
    real_key = keys.verification(real.id)
    service_usage = int(client.memory_usage(real_key, samples=0) or 0)
    real_fields = sorted(client.hkeys(real_key))
    flush(client)
    time.sleep(0.5)
    before = int(client.info("memory")["used_memory"])
    made = seed.seed(client, service.settings, service.vault, count)
    after = int(client.info("memory")["used_memory"])
    key = keys.verification(made[0].id)
    record = client.hgetall(key)
    longest = max(record.items(), key=lambda kv: len(kv[1]))
    return Memory(
        count=count,
        bytes_per_verification=(after - before) / count,
        hash_usage=int(client.memory_usage(key, samples=0) or 0),
        latest_usage=int(client.memory_usage(seed.names_for(service.settings).latest(made[0].to), samples=0) or 0),
        encoding=str(client.object("encoding", key)),
        fields=len(record),
        longest_field=(longest[0], len(longest[1])),
        service_hash_usage=service_usage,
        same_fields=sorted(record) == real_fields,
    )


@dataclass(frozen=True)
class CheckLatency:
    pending: int
    p50_us: float  # median over rounds of each round's median
    p99_us: float
    redis_us_per_evalsha: float  # server time per EVALSHA (script included)


class _Checker:
    """Wrong-code checks in-process (Flask test client) against one Redis database."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        app = _app(url)
        service = app.extensions["verification"]
        pool = seed.seed(self.client, service.settings, service.vault, 300, first_number=100_000)
        self.lines = [ln.split("\t") for ln in seed.check_lines(pool, right=False)]
        self.http = app.test_client()
        self.sent = 0
        self.samples: list[float] = []
        self.medians: list[float] = []
        self.redis_usec = 0.0
        self.redis_calls = 0

    def send(self) -> float:
        p = self.lines[self.sent % len(self.lines)]
        self.sent += 1
        began = time.perf_counter()
        response = self.http.post(p[1], data=p[2], headers=dict(zip(p[3::2], p[4::2], strict=True)))
        elapsed = time.perf_counter() - began
        assert response.status_code == 200, response.status_code
        return elapsed

    def round(self, count: int) -> None:
        self.client.config_resetstat()
        times = [self.send() for _ in range(count)]
        stats = self.client.info("commandstats").get("cmdstat_evalsha", {})
        self.redis_usec += float(stats.get("usec", 0))
        self.redis_calls += int(stats.get("calls", 0))
        self.medians.append(statistics.median(times))
        self.samples += times

    def result(self, pending: int) -> CheckLatency:
        ordered = sorted(self.samples)
        return CheckLatency(pending, statistics.median(self.medians) * 1e6, ordered[int(0.99 * len(ordered))] * 1e6,
                            self.redis_usec / max(1, self.redis_calls))  # fmt: skip


def pending_count(url: str) -> int:
    """Pending verifications in one database (each is a hash plus its number's pointer)."""
    return int(redis.Redis.from_url(url).dbsize()) // 2


def compare_checks(small_url: str, large_url: str, *, rounds: int = 6, per_round: int = 1000) -> list[CheckLatency]:
    """The same check against two databases, rounds interleaved (A B B A ...) so drift in the
    machine's load falls on both alike. Each database gets 300 verifications of its own to check
    (up to 99 wrong codes each): count them in when filling."""
    checkers = [_Checker(small_url), _Checker(large_url)]
    for checker in checkers:
        for _ in range(20):  # warm-up: connection, script load
            checker.send()
    for r in range(rounds):
        for checker in checkers if r % 2 == 0 else checkers[::-1]:
            checker.round(per_round)
    return [c.result(pending_count(u)) for c, u in zip(checkers, (small_url, large_url), strict=True)]


def fill_databases(url: str, small: int = 1_000, large: int = 1_000_000, reserve: int = 300) -> tuple[str, str, float]:
    """Database 1 with `small` pending verifications and database 2 with `large`, less `reserve`
    in each (the 300 that `compare_checks` adds, and any other pool); returns both URLs and the
    seconds the large fill took."""
    base = url.rsplit("/", 1)[0]
    small_url, large_url = f"{base}/1", f"{base}/2"
    app = _app(small_url)
    service = app.extensions["verification"]
    for target_url, count in ((small_url, small), (large_url, large)):
        client = redis.Redis.from_url(target_url, decode_responses=True)
        client.flushdb(asynchronous=True)
        template, _ = seed.build(service.settings, service.vault, seed.number(0), "sms", time.time())
        began = time.monotonic()
        seed.fill(client, template, max(0, count - reserve))
        filled = time.monotonic() - began
    return small_url, large_url, filled


def report(memory: Memory, few: CheckLatency, many: CheckLatency) -> str:
    lines = [
        f"- memory per pending verification ({memory.count:,} written): **{memory.bytes_per_verification:.0f} bytes**"
        f" (INFO used_memory delta / count); one hash: MEMORY USAGE {memory.hash_usage} B, encoding"
        f" `{memory.encoding}`, {memory.fields} fields, longest value `{memory.longest_field[0]}`"
        f" {memory.longest_field[1]} B; its `latest` pointer: {memory.latest_usage} B; a hash written by"
        f" VerificationService.start: {memory.service_hash_usage} B, same fields: {memory.same_fields}",
        "",
        "| pending verifications | check p50 (in-process) | check p99 | Redis time per EVALSHA |",
        "| --- | --- | --- | --- |",
    ]
    for c in (few, many):
        lines.append(f"| {c.pending:,} | {c.p50_us:.0f} µs | {c.p99_us:.0f} µs | {c.redis_us_per_evalsha:.2f} µs |")
    return "\n".join(lines)


def main() -> None:
    with RedisServer() as server:
        memory = measure_memory(server.url)
        small_url, large_url, filled = fill_databases(server.url)
        few, many = compare_checks(small_url, large_url)
        print(report(memory, few, many))
        print(f"(filled {many.pending:,} in {filled:.1f} s)")


if __name__ == "__main__":
    main()
