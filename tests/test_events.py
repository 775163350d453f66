"""Lifecycle events and outbound webhooks: written with each change, logged and delivered by the
worker to a real HTTP receiver, signed so that `standardwebhooks` (and, for /v2 webhooks, twilio's
RequestValidator) verifies every delivery."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
import redis
import requests
import responses
from flask import Flask
from standardwebhooks import Webhook
from twilio.request_validator import RequestValidator

from app import create_app
from telephony.delivery import Deliverer
from telephony.errors import StoreUnavailable
from telephony.outbound import new_secret
from telephony.store.keys import outbox
from telephony.store.memory import MemoryStore
from tests.conftest import (
    BASE_CONFIG,
    LIMITS_OFF,
    NUMBER,
    ROOT,
    TOPOLOGIES,
    TWILIO,
    TWILIO_API,
    RedisServer,
    newest_code,
)  # fmt: skip
from webhooks.event_views import EventPayloads

SECRET = new_secret()
FAST = "0.2,0.2,0.2"  # WEBHOOK_RETRY_SCHEDULE: three quick retries, four attempts in all


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def verified(self, secret: str = SECRET) -> dict:
        """The payload, once `standardwebhooks` has checked its signature (it raises if not)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A real HTTP server that records every request and answers from a script (then 200)."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0  # seconds each answer takes (a slow receiver)

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(rec.delay)
            with lock:
                rec.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = rec.answers.pop(0) if rec.answers and self.path == "/hook" else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # (5 by default: a burst of connections would wait out SYN retries)

    server = Server(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def events_app(make_app: Callable[..., Flask], receiver: Receiver) -> Callable[..., Flask]:
    def build(**settings: str) -> Flask:
        config = {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_SCHEDULE": FAST,
                  **LIMITS_OFF, **settings}  # fmt: skip
        return make_app(**config)

    return build


def work(app: Flask, rounds: int = 1) -> Deliverer:
    """Run the worker `rounds` times; each round, as `flask otp worker` does, until nothing is left
    to attempt (a step claims as many deliveries as it attempts at once)."""
    verification = app.extensions["verification"]
    deliverer = Deliverer(verification.settings, verification.store, EventPayloads())
    with app.app_context():
        for _ in range(rounds):
            for _ in range(100):
                if not deliverer.run_once():
                    break
    deliverer.close()
    return deliverer


def work_until(app: Flask, done: Callable[[], bool], clock: object = None, timeout: float = 10.0) -> None:
    """Run worker rounds (moving a test clock along, for the memory store) until `done()`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        work(app)
        if clock is not None:
            clock.advance(0.25)  # type: ignore[attr-defined]
        time.sleep(0.05)


def start(client, to: str = NUMBER, **body: object) -> dict:
    response = client.post("/v1/verifications", json={"to": to, **body})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def events(client, **params: object) -> dict:
    response = client.get("/v1/events", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def canceled(client, to: str = NUMBER) -> dict:
    """A verification started and canceled: one `verification.canceled` event."""
    v = start(client, to)
    assert client.post(f"/v1/verifications/{v['id']}/cancel").status_code == 200
    return v


def first_delivery(client) -> dict:
    listed = events(client)["events"]
    return listed[0]["delivery"] if listed else {}


def two_workers(config: dict[str, str], receiver: Receiver, expected: int) -> None:
    """Two worker processes' loops (apps of their own) until `expected` events arrived, and a while
    longer so that a duplicate would show."""
    stop = threading.Event()

    def run(app: Flask) -> None:
        while not stop.is_set():
            work(app)
            stop.wait(0.02)  # as `flask otp worker` waits when idle (a tight loop would starve the others)

    threads = [threading.Thread(target=run, args=(create_app(config),)) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len({h.headers["webhook-id"] for h in receiver.at("/hook")}) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()


# --- each change makes exactly one delivered event ------------------------------------------------


@pytest.mark.parametrize("store_kind", TOPOLOGIES, indirect=True)
def test_approval_is_delivered_once_signed_and_shown_as_delivered(events_app, receiver: Receiver) -> None:
    app = events_app()
    client = app.test_client()
    v = start(client)
    assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": newest_code(client)}).get_json()["valid"]
    work(app, rounds=3)
    (hit,) = receiver.at("/hook")
    payload = hit.verified()
    assert payload["type"] == "verification.approved"
    assert payload["data"]["id"] == v["id"] and payload["data"]["status"] == "approved"
    assert set(payload) == {"type", "timestamp", "data"}
    assert hit.headers["webhook-id"].startswith("evt_") and hit.headers["content-type"] == "application/json"
    listed = events(client)["events"]
    assert [(e["type"], e["data"]["id"]) for e in listed] == [("verification.approved", v["id"])]
    assert listed[0]["id"] == hit.headers["webhook-id"]
    assert listed[0]["delivery"] == {"status": "delivered", "attempts": 1, "last_status": 200, "next_attempt_at": None}
    assert newest_code(client) not in hit.body.decode()  # the code never travels in an event


@pytest.mark.parametrize("change", ["cancel", "max_attempts"])
def test_cancel_and_max_attempts_each_make_one_event(events_app, receiver: Receiver, change: str) -> None:
    app = events_app()
    client = app.test_client()
    v = start(client)
    if change == "cancel":
        assert client.post(f"/v1/verifications/{v['id']}/cancel").status_code == 200
        expected = "verification.canceled"
    else:
        wrong = "000000" if newest_code(client) != "000000" else "111111"
        for _ in range(5):
            client.post(f"/v1/verifications/{v['id']}/check", json={"code": wrong})
        expected = "verification.max_attempts_reached"
    work(app, rounds=3)
    assert [h.verified()["type"] for h in receiver.at("/hook")] == [expected]
    assert receiver.at("/hook")[0].verified()["data"]["status"] == expected.removeprefix("verification.")


@pytest.mark.parametrize("store_kind", TOPOLOGIES, indirect=True)
def test_expiry_is_an_event_from_the_worker_once_and_never_after_approval(
    events_app, receiver: Receiver, clock, store_kind: str
) -> None:
    app = events_app(OTP_TTL="1")
    client = app.test_client()
    expiring = start(client)
    approved = start(client, "+14155550101")
    client.post(f"/v1/verifications/{approved['id']}/check", json={"code": newest_code(client, "+14155550101")})
    work(app)
    clock.advance(2)
    if store_kind != "memory":
        time.sleep(1.1)  # Redis expires on its own clock
    work_until(app, lambda: len(receiver.at("/hook")) >= 2)
    work(app, rounds=2)
    kinds = sorted((h.verified()["type"], h.verified()["data"]["id"]) for h in receiver.at("/hook"))
    assert kinds == [("verification.approved", approved["id"]), ("verification.expired", expiring["id"])]
    expired = next(h.verified() for h in receiver.at("/hook") if h.verified()["type"] == "verification.expired")
    assert expired["data"]["status"] == "expired"
    assert client.get(f"/v1/verifications/{expiring['id']}").status_code == 404  # expired is gone to the API


def test_failure_when_every_send_failed_is_an_event(events_app, receiver: Receiver) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as twilio:
        twilio.add_passthru("http://127.0.0.1")  # our receiver
        twilio.add(responses.POST, f"{TWILIO_API}/Messages.json", status=400,
                   json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})  # fmt: skip
        app = events_app(OTP_PROVIDER="twilio", OTP_MAX_SENDS="1", **TWILIO)
        client = app.test_client()
        answer = client.post("/v1/verifications", json={"to": NUMBER})
        assert answer.status_code == 502 and answer.get_json()["verification"]["status"] == "failed"
        work(app, rounds=3)
    (hit,) = receiver.at("/hook")
    assert hit.verified()["type"] == "verification.failed"


# --- delivery: retries, 410, redirects, the SSRF guard ---------------------------------------------


def test_a_500_is_retried_with_the_same_webhook_id(events_app, receiver: Receiver, clock) -> None:
    receiver.answers = [(500, {})]
    app = events_app()
    client = app.test_client()
    canceled(client)
    work(app)
    assert events(client)["events"][0]["delivery"]["status"] == "pending"
    assert events(client)["events"][0]["delivery"]["last_status"] == 500
    assert events(client)["events"][0]["delivery"]["next_attempt_at"] is not None
    work_until(app, lambda: len(receiver.at("/hook")) == 2, clock)
    first, second = receiver.at("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.verified() == second.verified()  # each attempt signed afresh, the same event
    delivery = events(client)["events"][0]["delivery"]
    assert delivery == {"status": "delivered", "attempts": 2, "last_status": 200, "next_attempt_at": None}


def test_410_stops_at_once(events_app, receiver: Receiver, clock) -> None:
    receiver.answers = [(410, {})]
    app = events_app()
    client = app.test_client()
    canceled(client)
    work(app)
    for _ in range(4):  # past every retry of the schedule
        clock.advance(1)
        time.sleep(0.25)
        work(app)
    assert len(receiver.at("/hook")) == 1
    delivery = events(client)["events"][0]["delivery"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1 and delivery["last_status"] == 410


def test_a_redirect_is_not_followed_and_the_schedule_ends_in_failed(events_app, receiver: Receiver, clock) -> None:
    elsewhere = receiver.url.replace("/hook", "/elsewhere")
    receiver.answers = [(302, {"Location": elsewhere})] * 4
    app = events_app()
    client = app.test_client()
    canceled(client)
    work_until(app, lambda: first_delivery(client).get("status") == "failed", clock)
    assert len(receiver.at("/hook")) == 4  # the first attempt and three retries
    assert receiver.at("/elsewhere") == []
    assert events(client)["events"][0]["delivery"]["last_status"] == 302


def test_production_deliveries_never_reach_a_private_address(events_app, receiver: Receiver) -> None:
    app = events_app()
    client = app.test_client()
    canceled(client)
    verification = app.extensions["verification"]
    guarded = replace(verification.settings, app_env="production")  # as WEBHOOK_ALLOW_PRIVATE=0 in production
    deliverer = Deliverer(guarded, verification.store, EventPayloads())
    with app.app_context():
        deliverer.run_once()
    deliverer.close()
    assert receiver.hits == []
    delivery = events(client)["events"][0]["delivery"]
    assert delivery["status"] == "pending" and delivery["last_status"] is None and delivery["attempts"] == 1


def test_signatures_carry_every_secret_during_a_rotation(events_app, receiver: Receiver) -> None:
    old = new_secret()
    app = events_app(WEBHOOK_SECRET_FALLBACKS=old)
    client = app.test_client()
    canceled(client)
    work(app)
    (hit,) = receiver.at("/hook")
    assert hit.verified(SECRET)["type"] == hit.verified(old)["type"] == "verification.canceled"
    assert len(hit.headers["webhook-signature"].split(" ")) == 2


# --- the log: paging, and no delivery without a URL ------------------------------------------------


def test_events_page_oldest_first_with_a_cursor(make_app: Callable[..., Flask]) -> None:
    app = make_app(**LIMITS_OFF)
    client = app.test_client()
    ids = []
    for i in range(5):
        v = start(client, f"+1415555{i:04d}")
        client.post(f"/v1/verifications/{v['id']}/cancel")
        ids.append(v["id"])
        work(app)  # logged in this order
    first = events(client, limit=2)
    assert [e["data"]["id"] for e in first["events"]] == ids[:2] and first["next"] == first["events"][-1]["id"]
    second = events(client, limit=2, after=first["next"])
    assert [e["data"]["id"] for e in second["events"]] == ids[2:4]
    last = events(client, limit=2, after=second["next"])
    assert [e["data"]["id"] for e in last["events"]] == ids[4:] and last["next"] is None
    assert {e["delivery"]["status"] for e in first["events"]} == {"none"}  # no WEBHOOK_URL: listed, not sent
    for bad in ({"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"after": "vf_nope"}):
        answer = client.get("/v1/events", query_string=bad)
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_request"


def test_events_need_the_api_key(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS="k1").test_client()
    assert client.get("/v1/events").status_code == 401
    assert client.get("/v1/events", headers={"Authorization": "Bearer k1"}).status_code == 200


# --- never lost, never twice ------------------------------------------------------------------------


@pytest.mark.redis
def test_a_change_whose_event_cannot_be_written_is_not_made(redis_url: str) -> None:
    """The event is written in the change's own script: break the outbox (a key of the wrong type)
    and the check fails as a whole: the verification is exactly as it was, with no event."""
    app = create_app({**BASE_CONFIG, **LIMITS_OFF, "REDIS_URL": redis_url})
    client = app.test_client()
    v = start(client)
    code = newest_code(client)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(outbox(v["id"][3:11]), "not a list")
    service = app.extensions["verification"]
    with pytest.raises(StoreUnavailable):
        service.check(v["id"], code)
    with pytest.raises(StoreUnavailable):
        service.cancel(v["id"])
    after = service.get(v["id"])
    assert after.status == "pending" and after.checks_left == 5 and after.version == service.get(v["id"]).version
    raw.delete(outbox(v["id"][3:11]))
    assert service.check(v["id"], code)[1] is True  # repaired: the same code approves, once
    work(app)
    assert [e["type"] for e in events(client)["events"]] == ["verification.approved"]


@pytest.mark.redis
def test_two_workers_deliver_each_event_once(redis_url: str, receiver: Receiver) -> None:
    config = {**BASE_CONFIG, **LIMITS_OFF, "REDIS_URL": redis_url, "WEBHOOK_URL": receiver.url,
              "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_SCHEDULE": FAST}  # fmt: skip
    client = create_app(config).test_client()
    for i in range(30):
        canceled(client, f"+1415555{i:04d}")
    two_workers(config, receiver, 30)
    ids = [h.headers["webhook-id"] for h in receiver.at("/hook")]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert all(h.verified()["type"] == "verification.canceled" for h in receiver.at("/hook"))


@pytest.mark.redis
def test_an_event_survives_a_redis_restart_before_delivery(tmp_path, receiver: Receiver) -> None:
    server = RedisServer(tmp_path)
    server.start("--appendonly", "yes", "--appendfsync", "always")
    try:
        config = {**BASE_CONFIG, **LIMITS_OFF, "REDIS_URL": server.url, "WEBHOOK_URL": receiver.url,
                  "WEBHOOK_SECRET": SECRET}  # fmt: skip
        app = create_app(config)
        client = app.test_client()
        v = start(client)
        assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": newest_code(client)}).get_json()["valid"]
        assert server.process is not None
        server.process.kill()  # no shutdown save: only the append-only file keeps the event
        server.process.wait(10)
        server.process = None
        server.start("--appendonly", "yes", "--appendfsync", "always")
        later = create_app(config)  # a worker started after the restart
        work_until(later, lambda: len(receiver.at("/hook")) == 1)
        assert receiver.at("/hook")[0].verified()["data"]["id"] == v["id"]
    finally:
        server.stop()


@pytest.mark.redis
def test_a_change_with_its_hint_lost_is_found_by_the_sweep(redis_url: str, receiver: Receiver) -> None:
    """A process that dies between a change and its hint to the worker: the event waits in its
    outbox, and the worker's sweep finds it."""
    app = create_app({**BASE_CONFIG, **LIMITS_OFF, "REDIS_URL": redis_url, "WEBHOOK_URL": receiver.url,
                      "WEBHOOK_SECRET": SECRET})  # fmt: skip
    client = app.test_client()
    canceled(client)
    redis.Redis.from_url(redis_url).delete("otp:{events}:tags", "otp:{events}:hints")  # the hints, lost
    work(app)  # a fresh worker sweeps at its first round
    assert [h.verified()["type"] for h in receiver.at("/hook")] == ["verification.canceled"]


# --- /v2 webhooks ----------------------------------------------------------------------------------


def test_v2_webhooks_get_their_services_events_signed_for_request_validator(
    events_app, receiver: Receiver
) -> None:
    app = events_app(API_KEYS="first-key,second-key", WEBHOOK_URL="", WEBHOOK_SECRET="")
    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"AC{'0' * 32}:first-key".encode()).decode()}
    va = client.post("/v2/Services", data={"FriendlyName": "Acme"}, headers=auth).get_json()["sid"]
    url = receiver.url.replace("/hook", "/twilio")
    made = client.post(f"/v2/Services/{va}/Webhooks", headers=auth, data={
        "FriendlyName": "approvals", "EventTypes": ["verification.approved"], "WebhookUrl": url})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    ve = client.post(f"/v2/Services/{va}/Verifications", data={"To": NUMBER, "Channel": "sms"}, headers=auth)
    sid = ve.get_json()["sid"]
    checked = client.post(f"/v2/Services/{va}/VerificationCheck", headers=auth,
                          data={"To": NUMBER, "Code": newest_code(client)})  # fmt: skip
    assert checked.get_json()["status"] == "approved"
    other = client.post(f"/v2/Services/{va}/Verifications", data={"To": "+14155550101", "Channel": "sms"}, headers=auth)
    client.post(f"/v2/Services/{va}/Verifications/{other.get_json()['sid']}", headers=auth, data={"Status": "canceled"})
    v1 = client.post("/v1/verifications", json={"to": "+14155550102"}, headers={"Authorization": "Bearer first-key"})
    client.post(f"/v1/verifications/{v1.get_json()['id']}/check", json={"code": newest_code(client, "+14155550102")},
                headers={"Authorization": "Bearer first-key"})  # approved, but not the service's
    work(app, rounds=3)
    (hit,) = receiver.at("/twilio")  # the cancellation was not asked for, nor the /v1 one
    params = dict(parse_qsl(hit.body.decode()))
    assert RequestValidator("first-key").validate(url, params, hit.headers["x-twilio-signature"])
    assert not RequestValidator("second-key").validate(url, params, hit.headers["x-twilio-signature"])
    assert params["type"] == "verification.approved" and params["verification_sid"] == sid
    assert params["service_sid"] == va and params["status"] == "approved" and params["uuid"].startswith("evt_")
    assert receiver.at("/hook") == []  # no WEBHOOK_URL here


def test_development_delivers_to_its_own_receiver_by_default(receiver: Receiver) -> None:
    app = create_app({**BASE_CONFIG, "APP_ENV": "development", "PORT": "5999", "API_KEYS": "k"}, store=MemoryStore())
    settings = app.extensions["verification"].settings
    assert settings.dev_receiver and settings.webhook_url == "http://127.0.0.1:5999/dev/webhook"
    assert settings.webhook_secret.startswith("whsec_")


# --- the tools around them: the CLI, metrics, the README's receiver ----------------------------------


def test_otp_events_prints_type_resource_and_delivery(events_app, receiver: Receiver) -> None:
    receiver.answers = [(503, {})]
    app = events_app()
    client = app.test_client()
    v = canceled(client)
    work(app)
    out = app.test_cli_runner().invoke(args=["otp", "events"]).output
    (line,) = out.splitlines()
    assert "verification.canceled" in line and v["id"] in line
    assert "pending (1 attempt, HTTP 503, next at " in line


def test_metrics_count_events_and_deliveries(events_app, receiver: Receiver, clock) -> None:
    receiver.answers = [(500, {})]
    app = events_app()
    client = app.test_client()

    def value(name: str) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    names = ('otp_events_total{type="verification.canceled"}', 'otp_event_deliveries_total{outcome="retry"}',
             'otp_event_deliveries_total{outcome="delivered"}', "otp_event_delivery_seconds_count")  # fmt: skip
    before = [value(n) for n in names]
    canceled(client)
    work_until(app, lambda: len(receiver.at("/hook")) == 2, clock)
    work(app)
    assert [value(n) - b for n, b in zip(names, before, strict=True)] == [1, 1, 1, 1]


def _readme_receiver() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- receiver-example -->", 1)[1].split("<!-- /receiver-example -->", 1)[0]
    return block.strip().removeprefix("```python").removesuffix("```")


@pytest.mark.slow
def test_the_readme_receiver_run_as_written_verifies_a_real_delivery(tmp_path) -> None:
    code = _readme_receiver()
    assert len([line for line in code.splitlines() if line.strip()]) <= 11  # "a 10-line receiver"
    (tmp_path / "receiver.py").write_text(code)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "receiver", "run", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the receiver did not start"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/webhooks/verify"
        app = create_app({**BASE_CONFIG, "WEBHOOK_URL": url, "WEBHOOK_SECRET": SECRET}, store=MemoryStore())
        client = app.test_client()
        v = start(client)
        assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": newest_code(client)}).get_json()["valid"]
        work(app)
        assert events(client)["events"][0]["delivery"]["status"] == "delivered"
        forged = Webhook(new_secret()).sign("evt_forged", datetime.now(UTC), "{}")
        refused = requests.post(url, data="{}", timeout=5, headers={
            "webhook-id": "evt_forged", "webhook-timestamp": str(int(time.time())), "webhook-signature": forged})  # fmt: skip
        assert refused.status_code == 500  # the wrong secret's signature raised
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    printed = [line for line in out.splitlines() if line.startswith(("verification.", "evt_"))]
    assert printed == [f"verification.approved {v['id']}"]  # (Flask's banner aside) the real one, only


def test_production_refuses_v2_webhooks_to_private_addresses() -> None:
    key = "k" * 32
    config = {"APP_ENV": "production", "SECRET_KEY": "s" * 32, "API_KEYS": key,
              "PUBLIC_BASE_URL": "https://verify.example.com", "REDIS_URL": "redis://127.0.0.1:1/0",
              "OTP_PROVIDER": "twilio", **TWILIO}  # fmt: skip
    client = create_app(config, store=MemoryStore()).test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"AC{'0' * 32}:{key}".encode()).decode()}
    va = client.post("/v2/Services", data={"FriendlyName": "Acme"}, headers=auth).get_json()["sid"]
    for url in ("https://127.0.0.1/hook", "https://10.0.0.7/hook", "https://169.254.169.254/latest", "http://8.8.8.8/"):
        made = client.post(f"/v2/Services/{va}/Webhooks", headers=auth,
                           data={"FriendlyName": "x", "EventTypes": "*", "WebhookUrl": url})  # fmt: skip
        assert made.status_code == 400 and made.get_json()["code"] == 60200, url
    public = client.post(f"/v2/Services/{va}/Webhooks", headers=auth,
                         data={"FriendlyName": "x", "EventTypes": "*", "WebhookUrl": "https://8.8.8.8/hook"})  # fmt: skip
    assert public.status_code == 201


def test_an_expiry_is_an_event_even_when_no_worker_ran_past_the_grace(
    events_app, receiver: Receiver, clock, store_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker down longer than the record outlives its expiry: the stub written at the start makes
    the event; a verification approved meanwhile gets none (its final status took it off)."""
    monkeypatch.setattr("telephony.store.redis.EXPIRY_GRACE", 1)  # stands for the 15 minutes
    monkeypatch.setattr("telephony.store.memory.EXPIRY_GRACE", 1)
    app = events_app(OTP_TTL="1")
    client = app.test_client()
    expiring = start(client)
    approved = start(client, "+14155550101")
    client.post(f"/v1/verifications/{approved['id']}/check", json={"code": newest_code(client, "+14155550101")})
    clock.advance(3)
    time.sleep(2.2 if store_kind != "memory" else 0)  # Redis forgets the record on its own clock
    assert client.get(f"/v1/verifications/{expiring['id']}").status_code == 404  # (the memory store drops it here)
    if store_kind != "memory":
        assert not redis.Redis.from_url(app.extensions["verification"].settings.redis_url).exists(
            f"otp:{{{expiring['id'][3:11]}}}:v:{expiring['id'][11:]}")  # fmt: skip
    work_until(app, lambda: len(receiver.at("/hook")) >= 2)
    work(app, rounds=2)
    kinds = sorted((h.verified()["type"], h.verified()["data"]["id"]) for h in receiver.at("/hook"))
    assert kinds == [("verification.approved", approved["id"]), ("verification.expired", expiring["id"])]
    assert next(h.verified() for h in receiver.at("/hook") if "expired" in h.verified()["type"])["data"]["status"] == "expired"


@pytest.mark.redis
def test_two_workers_never_send_one_event_at_once_to_a_slow_receiver(
    redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker claims only what it sends at once, inside the lease: a receiver slow enough that a
    backlog would outlast the lease still gets each event once. Scaled down: a 1 s lease for 60, and an
    attempt (0.3 s here) may take up to 0.8 s as one may take 25 s of the 60 (two 10 s timeouts)."""
    monkeypatch.setattr("telephony.delivery.LEASE", 1.0)
    monkeypatch.setattr("telephony.delivery.ATTEMPT_MAX", 0.8)
    receiver.delay = 0.3
    config = {**BASE_CONFIG, **LIMITS_OFF, "REDIS_URL": redis_url, "WEBHOOK_URL": receiver.url,
              "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_SCHEDULE": "3000"}  # fmt: skip
    client = create_app(config).test_client()
    for i in range(40):
        canceled(client, f"+1415555{i:04d}")
    two_workers(config, receiver, 40)
    ids = [h.headers["webhook-id"] for h in receiver.at("/hook")]
    assert len(set(ids)) == 40 and len(ids) == 40, "an event was sent twice"


# --- the schedule itself (pure) ---------------------------------------------------------------------


def test_the_retry_schedule_is_the_contracts_with_jitter_then_failed() -> None:
    from random import Random

    from telephony.eventlog import RETRY_SCHEDULE, Delivery, DeliveryStatus, outcome

    assert RETRY_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)  # about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    d, now, waits = Delivery(), 1000.0, []
    for expected in RETRY_SCHEDULE:
        d = outcome(d, 500, "", now, rng=Random(len(waits)))
        assert d.status == DeliveryStatus.PENDING and d.next_attempt_at is not None
        wait = d.next_attempt_at - now
        assert 0.8 * expected <= wait <= 1.2 * expected and d.last_status == 500
        waits.append(wait / expected)
    assert len(set(waits)) > 1  # jittered, not in step
    last = outcome(d, None, "no answer within 10 s", now)
    assert (last.status, last.attempts, last.last_status, last.error) == (DeliveryStatus.FAILED, 8, None, "no answer within 10 s")
    assert outcome(Delivery(), 204, "", now).status == DeliveryStatus.DELIVERED
    assert outcome(Delivery(), 410, "", now).status == DeliveryStatus.FAILED  # gone: no retry
    assert outcome(Delivery(), 302, "", now).status == DeliveryStatus.PENDING  # a redirect is a failure, retried
    slow = outcome(Delivery(), 429, "", now, retry_after=600)
    assert slow.next_attempt_at == now + 600  # a longer Retry-After is honoured…
    capped = outcome(Delivery(), 429, "", now, retry_after=10**9)
    assert capped.next_attempt_at == now + max(RETRY_SCHEDULE)  # …up to the longest wait


@pytest.mark.parametrize("bad", ["", " ", "x", "0", "5,-1", ",".join(["1"] * 21)])
def test_the_retry_schedule_setting_is_checked(bad: str) -> None:
    from telephony.config import load_settings
    from telephony.errors import ConfigError

    base = {"APP_ENV": "test", "SECRET_KEY": "test-secret-key-0123456789"}
    if not bad.strip():  # empty: the contract's schedule
        assert load_settings({**base, "WEBHOOK_RETRY_SCHEDULE": bad}).webhook_retry_schedule[0] == 5
        return
    with pytest.raises(ConfigError, match="WEBHOOK_RETRY_SCHEDULE"):
        load_settings({**base, "WEBHOOK_RETRY_SCHEDULE": bad})
