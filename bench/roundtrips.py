"""Redis round trips per operation, counted at the client.

A round trip is one write of commands to the socket followed by waiting for their replies: redis-py
sends a single command, a pipeline or a MULTI/EXEC block with one `send_packed_command`, so the
counting connection below counts those calls (commands run inside a Lua script are not round trips
and are not seen). The app is built in-process with `create_app(config, store=RedisStore(client))`
on the same settings as the benchmarked server; each request kind is made once to warm up
(connection handshake, first script load), then once more and counted.

    python bench/roundtrips.py          # starts its own redis-server, prints a table
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from flask import Flask

from app import create_app
from bench import seed
from bench.common import RedisServer, app_settings, quiet
from telephony.store.redis import RedisStore

# Targets only where someone waits on the answer in a hurry: checks and answer URLs. A start
# counts its client and country limits in their own slots before the number's script (so a refusal
# changes nothing), and a receipt is load, step, compare-and-set like every other event.
TARGETS = {"check (wrong)": 1, "check (right)": 1, "answer URL": 1}


class Tally:
    """Round trips and the command names sent in each, shared by every counting connection."""

    def __init__(self) -> None:
        self.trips: list[list[str]] = []

    def reset(self) -> None:
        self.trips = []


TALLY = Tally()


def _command_names(packed: object) -> list[str]:
    """The command names in a packed RESP payload (arrays of bulk strings)."""
    data = b"".join(packed) if isinstance(packed, list | tuple) else packed
    if isinstance(data, str):
        data = data.encode()
    names, i = [], 0
    while i < len(data) and data[i : i + 1] == b"*":
        end = data.index(b"\r\n", i)
        count = int(data[i + 1 : end])
        i = end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", i)
            size = int(data[i + 1 : end])
            args.append(data[end + 2 : end + 2 + size])
            i = end + 2 + size + 2
        name = args[0].decode().upper() if args else "?"
        if name in ("SCRIPT", "CLIENT") and len(args) > 1:
            name += " " + args[1].decode().upper()
        names.append(name)
    return names


class CountingConnection(redis.Connection):
    def send_packed_command(self, command, check_health=True):
        TALLY.trips.append(_command_names(command))
        return super().send_packed_command(command, check_health=check_health)


def counting_store(url: str) -> RedisStore:
    """A RedisStore with the options of `RedisStore.from_url`, over counting connections."""
    pool = redis.ConnectionPool.from_url(
        url, connection_class=CountingConnection, decode_responses=True,
        socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30,
    )  # fmt: skip
    return RedisStore(redis.Redis(connection_pool=pool))


@dataclass
class Count:
    operation: str
    trips: list[list[str]] = field(default_factory=list)
    status: int = 0

    @property
    def n(self) -> int:
        return len(self.trips)

    def describe(self) -> str:
        return " | ".join(" + ".join(t) for t in self.trips)


def _stub_twilio(app: Flask) -> None:
    """For the `start (twilio)` row only: the Twilio adapter answers in-process (no HTTP)."""
    twilio = app.extensions["verification"].providers["twilio"]
    twilio.send_sms = lambda to, body, *, status_url: "SM" + "0" * 32
    twilio.place_call = lambda to, *, answer_url, status_url: "CA" + "0" * 32


def measure(url: str, *, http_port: int = 5000) -> list[Count]:
    config = app_settings(int(url.rsplit(":", 1)[1].split("/")[0]), http_port)
    store = counting_store(url)
    app = create_app(config, store=store)
    quiet()
    service = app.extensions["verification"]
    raw = redis.Redis.from_url(url)
    pool = seed.seed(raw, service.settings, service.vault, 6)
    calls = seed.seed(raw, service.settings, service.vault, 2, mode="call")
    client = app.test_client()
    base = config["PUBLIC_BASE_URL"]
    auth = seed.api_headers()

    def lines_request(line: str):  # -> TestResponse
        method, path, body, headers = _split(line)
        return client.open(path, method=method, data=body, headers=headers)

    def start(i: int):  # a number of its own each time: a second start would be a resend
        return client.post("/v1/verifications", json={"to": seed.NUMBERS[7 + i], "channel": "sms"}, headers=auth)

    kinds = [
        ("healthz (ceiling)", lambda i: client.get("/healthz")),
        ("start", start),
        ("check (wrong)", lambda i: lines_request(next(seed.check_lines([pool[0]], right=False)))),
        ("check (right)", lambda i: lines_request(next(seed.check_lines([pool[1 + i]], right=True)))),
        ("answer URL", lambda i: lines_request(next(seed.answer_lines([calls[i]], base)))),
        ("receipt", lambda i: lines_request(next(seed.receipt_lines([pool[3 + i]], base)))),
    ]
    counts = []
    for name, call in kinds:
        call(0)  # warm-up: connection handshake, first EVALSHA / SCRIPT LOAD
        TALLY.reset()
        response = call(1)
        counts.append(Count(name, list(TALLY.trips), response.status_code))
    # The same start with a non-console SMS provider (Twilio's HTTP call stubbed in-process), to
    # separate what the console provider's outbox costs from what every start costs.
    twilio_app = create_app({**config, "SMS_PROVIDER": "twilio"}, store=store)
    quiet()
    _stub_twilio(twilio_app)
    tclient = twilio_app.test_client()
    for i in range(2):
        TALLY.reset()
        response = tclient.post("/v1/verifications", json={"to": seed.NUMBERS[20 + i], "channel": "sms"}, headers=auth)
    counts.append(Count("start (twilio, HTTP stubbed)", list(TALLY.trips), response.status_code))
    return counts


def _split(line: str) -> tuple[str, str, str, dict[str, str]]:
    p = line.split("\t")
    return p[0], p[1], p[2], dict(zip(p[3::2], p[4::2], strict=True))


def table(counts: list[Count]) -> str:
    rows = ["| operation | HTTP status | round trips | target | commands sent, per round trip |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for c in counts:
        target = TARGETS.get(c.operation.split(" (twilio")[0], "")
        verdict = "" if target == "" else (" ✓" if c.n <= target else " ✗")
        rows.append(f"| {c.operation} | {c.status} | **{c.n}**{verdict} | {target or '—'} | {c.describe()} |")
    return "\n".join(rows)


def main() -> None:
    with RedisServer() as server:
        print(table(measure(server.url)))


if __name__ == "__main__":
    main()
