"""A fake Twilio and Plivo REST API that answers after a delay you set, for load benchmarks.

Why it exists: a benchmark of sends must run the app's real provider adapters (the twilio-python and
plivo SDKs, with their sessions, pools and timeouts), and what ties up the app's workers while they
send is the carrier's latency: a few hundred milliseconds, with a tail of seconds. The real APIs
cannot be load-tested, and `responses` mocks answer at once, in-process. This answers the SDKs' own
requests over loopback HTTP, with the JSON the SDKs parse, after `delay` seconds (a `tail` fraction
of requests after `tail_delay` instead); the latency can be changed per provider during a run, e.g.
Twilio stalled at 4 s while Plivo stays at 300 ms.

The app reaches it through TWILIO_API_URL / PLIVO_API_URL = http://127.0.0.1:<port> (each SDK
request's scheme and host replaced, its path kept), so requests arrive on the SDKs' own paths:

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   201, a Twilio message (sid SM + 32 hex)
    POST /2010-04-01/Accounts/{AccountSid}/Calls.json      201, a Twilio call (sid CA + 32 hex)
    POST /v1/Account/{auth_id}/Message/                    202, Plivo's {"message_uuid": [uuid], ...}
    POST /v1/Account/{auth_id}/Call/                       201, Plivo's {"request_uuid": uuid, ...}
    POST /_control   {"delay": 0.3, "tail": 0.01, "tail_delay": 2.0, "provider": "twilio"}  (no provider: both)
    GET  /_stats     requests answered per provider and kind, in flight now, the current latency
    POST /_reset     zeroes the counts
    anything else    404, JSON

One asyncio loop serves every connection with a minimal HTTP/1.1 server (keep-alive, Content-Length
bodies): a waiting request costs a coroutine, not a thread. The message text holds a one-time code:
it is neither echoed back nor logged.

    python bench/fake_provider.py --port 8900 [--delay 0.3 --tail 0.01 --tail-delay 2 --seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import math
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port, stop_process_group

PROVIDERS = ("twilio", "plivo")
KINDS = ("sms", "call")
ROUTES = [  # (path pattern: account, resource), provider
    (re.compile(r"/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json"), "twilio"),
    (re.compile(r"/v1/Account/([^/]+)/(Message|Call)/"), "plivo"),
]
MAX_BODY = 1 << 20

Reply = tuple[int, dict[str, Any]]


@dataclass
class Latency:
    delay: float = 0.3  # seconds before most answers
    tail: float = 0.01  # the fraction of requests answered after tail_delay instead
    tail_delay: float = 2.0


def error(status: int, message: str) -> dict[str, Any]:
    """An error both SDKs can read: Twilio's `code`/`message`/`status`, Plivo's `error`."""
    return {"code": 20000 + status, "message": message, "status": status, "error": message}


def twilio_reply(kind: str, account: str, body: bytes) -> Reply:
    """A created message or call as Twilio's API shows it (the message's text left out)."""
    form = parse_qs(body.decode("utf-8", "replace"))

    def field(name: str) -> str | None:
        return form.get(name, [None])[0]

    now = email.utils.format_datetime(datetime.now(UTC))  # RFC 2822, "+0000", as Twilio writes dates
    prefix, collection = ("SM", "Messages") if kind == "sms" else ("CA", "Calls")
    sid = prefix + uuid.uuid4().hex
    uri = f"/2010-04-01/Accounts/{account}/{collection}/{sid}.json"
    resource: dict[str, Any] = {
        "sid": sid, "account_sid": account, "to": field("To"), "from": field("From"), "status": "queued",
        "date_created": now, "date_updated": now, "api_version": "2010-04-01", "direction": "outbound-api",
        "price": None, "price_unit": "USD", "uri": uri,
    }  # fmt: skip
    if kind == "sms":
        resource |= {
            "body": "", "messaging_service_sid": field("MessagingServiceSid"), "num_segments": "1",
            "num_media": "0", "date_sent": None, "error_code": None, "error_message": None,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
        }  # fmt: skip
    else:
        resource |= {
            "start_time": None, "end_time": None, "duration": None, "answered_by": None,
            "parent_call_sid": None, "queue_time": "0",
            "subresource_uris": {"recordings": uri.removesuffix(".json") + "/Recordings.json"},
        }  # fmt: skip
    return 201, resource


def plivo_reply(kind: str, account: str, body: bytes) -> Reply:
    if kind == "sms":
        return 202, {"api_id": str(uuid.uuid4()), "message": "message(s) queued", "message_uuid": [str(uuid.uuid4())]}
    return 201, {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": str(uuid.uuid4())}


class FakeApi:
    """What the server answers: routes, the providers' JSON after their latency, the counts."""

    def __init__(self, latency: Latency, seed: int | None = None) -> None:
        self.latency = {p: Latency(**asdict(latency)) for p in PROVIDERS}
        self.rng = random.Random(seed)
        self.answered = {p: dict.fromkeys(KINDS, 0) for p in PROVIDERS}
        self.in_flight = dict.fromkeys(PROVIDERS, 0)
        self.not_found = 0

    async def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path = urlsplit(target).path
        if method == "GET" and path == "/_stats":
            return 200, self.stats()
        if method == "POST" and path == "/_reset":
            self.answered = {p: dict.fromkeys(KINDS, 0) for p in PROVIDERS}
            self.not_found = 0
            return 200, self.stats()
        if method == "POST" and path == "/_control":
            try:
                self.configure(json.loads(body or b"{}"))
            except ValueError as exc:  # json.JSONDecodeError included
                return 400, error(400, str(exc))
            return 200, self.stats()
        for pattern, provider in ROUTES:
            if method == "POST" and (match := pattern.fullmatch(path)):
                account, resource = match.groups()
                kind = "call" if resource.startswith("Call") else "sms"
                return await self.delayed(provider, kind, account, headers, body)
        self.not_found += 1
        return 404, error(404, f"The requested resource {path} was not found")

    async def delayed(self, provider: str, kind: str, account: str, headers: dict[str, str], body: bytes) -> Reply:
        if not headers.get("authorization", "").startswith("Basic "):  # both SDKs always send it
            return 401, error(401, "Authenticate")
        latency = self.latency[provider]
        wait = latency.tail_delay if self.rng.random() < latency.tail else latency.delay
        self.in_flight[provider] += 1
        try:
            await asyncio.sleep(wait)
        finally:
            self.in_flight[provider] -= 1
        self.answered[provider][kind] += 1
        return (twilio_reply if provider == "twilio" else plivo_reply)(kind, account, body)

    def configure(self, change: object) -> None:
        """Apply a /_control body; nothing changes unless all of it is valid."""
        if not isinstance(change, dict):
            raise ValueError("expected a JSON object")
        values = dict(change)
        provider = values.pop("provider", None)
        if provider not in (None, *PROVIDERS):
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, or omitted for both")
        if unknown := set(values) - set(asdict(Latency())):
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            if name == "tail" and value > 1:
                raise ValueError("tail is a fraction, between 0 and 1")
        for name in [provider] if provider else PROVIDERS:
            for key, value in values.items():
                setattr(self.latency[name], key, float(value))

    def stats(self) -> dict[str, Any]:
        return {
            "answered": {p: dict(kinds) for p, kinds in self.answered.items()},
            "in_flight": sum(self.in_flight.values()),
            "in_flight_by_provider": dict(self.in_flight),
            "not_found": self.not_found,
            "latency": {p: asdict(latency) for p, latency in self.latency.items()},
        }


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str], bytes] | None:
    """(method, target, version, headers, body), or None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = request_line.split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest(501, "only Content-Length bodies are supported")
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_BODY:
        raise BadRequest(413 if length.isdigit() else 400, "bad or too large Content-Length")
    body = await reader.readexactly(int(length))
    return method, target, version, headers, body


async def respond(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], keep_alive: bool) -> None:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


async def serve_connection(api: FakeApi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Requests on one connection, one after another, until the client closes or asks to."""
    try:
        while True:
            try:
                request = await read_request(reader)
            except BadRequest as exc:
                await respond(writer, exc.status, error(exc.status, str(exc)), keep_alive=False)
                return
            if request is None:
                return
            method, target, version, headers, body = request
            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            status, payload = await api.answer(method, target, headers, body)
            await respond(writer, status, payload, keep_alive)
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):  # the client went away mid-request
        pass
    finally:
        writer.close()


async def serve(api: FakeApi, port: int, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM or SIGINT, then close every connection."""
    connections: set[asyncio.Task] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await serve_connection(api, reader, writer)
        except asyncio.CancelledError:  # shutting down; Python 3.11 would log a cancelled task as an error
            pass
        finally:
            connections.discard(task)

    server = await asyncio.start_server(connected, host, port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake provider listening on http://{host}:{port}", flush=True)
    await stop.wait()
    server.close()
    for task in list(connections):  # keep-alive connections would otherwise hold wait_closed (3.12+)
        task.cancel()
    await asyncio.gather(*connections, return_exceptions=True)
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Twilio and Plivo REST API that answers after a delay.")
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free one, printed)")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds before an answer (default 0.3)")
    parser.add_argument("--tail", type=float, default=0.01, help="fraction of requests answered after --tail-delay")
    parser.add_argument("--tail-delay", type=float, default=2.0, help="seconds, for the tail (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of which requests fall in the tail")
    args = parser.parse_args(argv)
    api = FakeApi(Latency(), seed=args.seed)
    try:
        api.configure({"delay": args.delay, "tail": args.tail, "tail_delay": args.tail_delay})
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(api, args.port))
    return 0


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


class FakeProvider:
    """The fake in a subprocess (a session of its own, stopped by its process group), for a benchmark.

    with FakeProvider(delay=0.3) as fake:
        env["TWILIO_API_URL"] = env["PLIVO_API_URL"] = fake.url
        fake.set(delay=4, provider="twilio")
        fake.stats()["answered"]["twilio"]["sms"]
    """

    def __init__(self, delay: float = 0.3, tail: float = 0.01, tail_delay: float = 2.0, seed: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--delay", str(delay), "--tail", str(tail), "--tail-delay", str(tail_delay), "--seed", str(seed)]
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the fake provider is not started")
        return self.process.pid

    def start(self) -> FakeProvider:
        script = ROOT / "bench" / "fake_provider.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--port", str(self.port), *self.args],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                self.stats()
                return self
            except OSError:  # not listening yet (urllib's URLError is an OSError)
                if self.process.poll() is not None:
                    raise RuntimeError(f"the fake provider exited with {self.process.returncode}") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 URL)
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _DIRECT.open(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise ValueError(f"{path}: {exc.code} {exc.read().decode(errors='replace')}") from None

    def set(
        self,
        delay: float | None = None,
        tail: float | None = None,
        tail_delay: float | None = None,
        provider: str | None = None,
    ) -> dict[str, Any]:
        """Change the latency of `provider` (twilio or plivo; None: both); None leaves a setting as it is."""
        change: dict[str, Any] = {"delay": delay, "tail": tail, "tail_delay": tail_delay, "provider": provider}
        return self._call("POST", "/_control", {k: v for k, v in change.items() if v is not None})

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stats")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/_reset")

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
