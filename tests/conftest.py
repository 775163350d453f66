"""Shared fixtures: a real redis-server per session, app factories, Twilio HTTP and signatures."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import responses
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from topologies import Topology, start_cluster, start_sentinel
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from app import create_app
from telephony.config import PROVIDER_SETTINGS
from telephony.service import VoiceScript
from telephony.store import MemoryStore
from telephony.wording import words
from webhooks.carrier import xml

ROOT = Path(__file__).resolve().parent.parent

# CI replays the same examples every run, so a landing never hinges on a lucky draw; locally
# hypothesis explores new ones (and remembers failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
BASE_URL = "https://verify.example.com"
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "1",
    "TWILIO_AUTH_TOKEN": "twilio-test-auth-token",
    "TWILIO_FROM": "+15005550006",
}
TWILIO_API = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO['TWILIO_ACCOUNT_SID']}"
_SETTINGS = {n for names in PROVIDER_SETTINGS.values() for n in names} | {
    "APP_ENV", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "API_KEYS", "PUBLIC_BASE_URL", "REDIS_URL",
    "OTP_PROVIDER", "SMS_PROVIDER", "VOICE_PROVIDER", "OTP_LENGTH", "OTP_TTL", "OTP_MAX_CHECKS",
    "OTP_MAX_SENDS", "OTP_BRAND", "OTP_RESEND_COOLDOWN", "PROVIDER_TIMEOUT", "DEMO_ENABLED", "PORT",
    "TRUST_PROXY",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's shell or a `.env` in the checkout."""
    prefixes = ("OTP_", "TWILIO_", "PLIVO_", "SIGNALWIRE_", "FLOWROUTE_", "SECRET_KEY", "API_KEYS", "WEBHOOK_")
    for name in _SETTINGS | {n for n in os.environ if n.startswith(prefixes)}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


class RedisServer:
    """A redis-server of the test session's own, on a free port, that tests may stop and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (the README says how to get it)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log"),
             "--enable-debug-command", "local", *extra],  # DEBUG SLEEP: a stalled server, in tests
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        redis.Redis(port=self.port).flushall()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.process is None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    sentinel = start_sentinel(tmp_path_factory.mktemp("sentinel"))
    yield sentinel
    sentinel.stop()


def store_url(request: pytest.FixtureRequest, kind: str) -> str:
    """An empty store of `kind` (redis, cluster or sentinel): its REDIS_URL."""
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    topology: Topology = request.getfixturevalue(f"redis_{kind}")
    topology.flush()
    return topology.url


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        # Starts at the real time: Redis expires keys on its own clock.
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


BASE_CONFIG = {"APP_ENV": "test", "SECRET_KEY": "test-secret-key-0123456789", "PUBLIC_BASE_URL": BASE_URL}
NUMBER = "+14155550100"  # the person verifying, unless a test needs a number of its own
# Every start limit and the pumping guard off, for tests that start fast from one IP, key and number.
LIMITS_OFF = {
    "OTP_LIMIT_NUMBER": "off",
    "OTP_LIMIT_PREFIX": "off",
    "OTP_LIMIT_COUNTRY": "off",
    "OTP_LIMIT_IP": "off",
    "OTP_LIMIT_API_KEY": "off",
    "OTP_LIMIT_CHECKS": "off",
    "OTP_PUMPING_MIN_SENDS": "off",
}


STORES = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
# The store contract and the API flows also run on the topologies a team scales out to.
TOPOLOGIES = [*STORES, pytest.param("cluster", marks=pytest.mark.redis), pytest.param("sentinel", marks=pytest.mark.redis)]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_app(request: pytest.FixtureRequest, store_kind: str, clock: Clock) -> Callable[..., Flask]:
    """Build an app on the parametrized store; keyword settings override the test defaults."""

    def build(**settings: str) -> Flask:
        config = {**BASE_CONFIG, **settings}
        if store_kind != "memory":
            config["REDIS_URL"] = store_url(request, store_kind)
            return create_app(config, clock=clock)
        return create_app(config, store=MemoryStore(clock=clock), clock=clock)

    return build


@pytest.fixture
def twilio_api() -> Iterator[responses.RequestsMock]:
    """Twilio's REST API at the HTTP layer: the real SDK builds and sends each request."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        counter = iter(range(1, 10_000))

        def created(kind: str, prefix: str) -> Callable:
            def reply(request: object) -> tuple[int, dict, str]:
                sid = f"{prefix}{next(counter):032x}"
                body = f'{{"sid": "{sid}", "status": "queued", "account_sid": "{TWILIO["TWILIO_ACCOUNT_SID"]}"}}'
                return 201, {"Content-Type": "application/json"}, body

            return reply

        mock.add_callback(responses.POST, f"{TWILIO_API}/Messages.json", callback=created("message", "SM"))
        mock.add_callback(responses.POST, f"{TWILIO_API}/Calls.json", callback=created("call", "CA"))
        yield mock


def start(
    client: FlaskClient,
    to: str = NUMBER,
    channel: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **body: object,
) -> TestResponse:
    """POST /v1/verifications as a backend would: no `channel` means the API's default (sms);
    `body` adds fields (`locale`, `client_ip`)."""
    fields = {"to": to, **({"channel": channel} if channel else {}), **body}
    return client.post("/v1/verifications", json=fields, headers=headers or {})


def started(client: FlaskClient, to: str = NUMBER, channel: str | None = None, **body: object) -> dict:
    """A start that must succeed (201): the verification as the API shows it."""
    response = start(client, to, channel, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def newest_code(client: FlaskClient, to: str | None = None) -> str:
    """The code in the console provider's newest SMS (to `to`, if given)."""
    sends = client.get("/dev/outbox").get_json()["sends"]
    body = next(s["body"] for s in sends if "body" in s and to in (None, s["to"]))
    return re.search(r"\b(\d{6})\b", body).group(1)


class Api:
    """The /v1 API as a backend uses it, over one test client (flaskr's `AuthActions`)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def start(self, to: str = NUMBER, channel: str | None = None, **body: object) -> TestResponse:
        return start(self.client, to, channel, **body)

    def started(self, to: str = NUMBER, channel: str | None = None, **body: object) -> dict:
        return started(self.client, to, channel, **body)

    def get(self, verification_id: str) -> dict:
        return self.client.get(f"/v1/verifications/{verification_id}").get_json()

    def check(self, verification_id: str, code: str) -> TestResponse:
        return self.client.post(f"/v1/verifications/{verification_id}/check", json={"code": code})

    def code(self, to: str | None = None) -> str:
        return newest_code(self.client, to)


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    """The default app's client; a test module overrides it to change the settings."""
    return make_app().test_client()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


class Carrier:
    """Twilio calling our webhooks, each request signed as Twilio signs it."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, url: str, params: dict[str, str], token: str = TWILIO["TWILIO_AUTH_TOKEN"]) -> TestResponse:
        return signed_post(self.client, url, params, token)

    def message_status(self, url: str, sid: str, status: str, **extra: str) -> TestResponse:
        return self.post(url, {"MessageSid": sid, "MessageStatus": status, **extra})

    def call_status(self, url: str, sid: str, status: str, **extra: str) -> TestResponse:
        return self.post(url, {"CallSid": sid, "CallStatus": status, **extra})


@pytest.fixture
def carrier(client: FlaskClient) -> Carrier:
    return Carrier(client)


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO["TWILIO_AUTH_TOKEN"]) -> str:
    return RequestValidator(token).compute_signature(url, params)


def signed_post(
    client: FlaskClient, url: str, params: dict[str, str], token: str = TWILIO["TWILIO_AUTH_TOKEN"]
) -> TestResponse:
    """POST `params` to the absolute `url` (built on BASE_URL) signed as Twilio would sign it."""
    path = url.removeprefix(BASE_URL)
    return client.post(path, data=params, headers={"X-Twilio-Signature": twilio_signature(url, params, token)})


def render_markup(app: Flask, template: str, **context: object) -> str:
    """A carrier document rendered as the webhooks render it (`webhooks.carrier.xml`)."""
    with app.app_context():
        return xml(template, **context).get_data(as_text=True)


def call_markup(app: Flask, dialect: str, menu_url: str | None, *, brand: str = "Verify", code: str = "123456") -> str:
    """The answer URL's document in `dialect` (twiml or plivo) speaking `code`."""
    script = VoiceScript("en", brand, available=bool(code), digits=tuple(code))
    return render_markup(app, f"{dialect}/call.xml", script=script, text=words("en"), menu_url=menu_url)


@pytest.fixture
def served() -> Iterator[Callable[..., Flask]]:
    """Build apps and serve each on loopback (threaded), as `flask otp simulate` expects a running instance."""
    servers = []

    def serve(**settings: str) -> Flask:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        app = create_app(
            {**BASE_CONFIG, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **settings}, store=MemoryStore()
        )
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return app

    yield serve
    for server in servers:
        server.shutdown()
