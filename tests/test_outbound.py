"""Outbound webhooks' groundwork: Standard Webhooks signatures, `whsec_` secrets, their settings and the SSRF guard.

Signatures are checked by the `standardwebhooks` package (the receivers' own verifier), not by
our code. The SSRF tests patch `socket.getaddrinfo` (the system's resolver) only.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from telephony import outbound
from telephony.config import load_settings
from telephony.errors import ConfigError
from telephony.outbound import (
    TIMEOUT,
    DestinationRefused,
    UnsafeDestination,
    WebhookSigner,
    check_destination,
    new_secret,
    parse_secret,
    session,
)


def _secret(size: int = 32, fill: int = 7) -> str:
    return "whsec_" + base64.b64encode(bytes([fill]) * size).decode()


CURRENT, OLDER, OLDEST = _secret(fill=1), _secret(fill=2), _secret(48, fill=3)
BODY = b'{"type": "verification.approved", "timestamp": "2026-11-26T10:00:00Z", "data": {"id": "vf_1"}}'
PUBLIC = "93.184.215.14"  # a public address; nothing in these tests connects to it


# --- signatures --------------------------------------------------------------------------------


def test_the_receivers_verifier_accepts_a_delivery_signed_with_the_current_secret() -> None:
    headers = WebhookSigner(CURRENT).headers("evt_1", int(time.time()), BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    assert Webhook(CURRENT).verify(BODY, headers) == {
        "type": "verification.approved",
        "timestamp": "2026-11-26T10:00:00Z",
        "data": {"id": "vf_1"},
    }


def test_the_signature_is_the_one_the_standard_webhooks_library_computes() -> None:
    stamp = 1614265330
    ours = WebhookSigner(CURRENT).headers("msg_p5jXN8AQM9LWM0D4loKWxJek", stamp, BODY)
    theirs = Webhook(CURRENT).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(stamp, UTC), BODY.decode())
    assert ours["webhook-signature"] == theirs
    assert ours["webhook-timestamp"] == "1614265330"


def test_during_a_rotation_a_receiver_with_any_one_of_the_secrets_accepts_the_delivery() -> None:
    now = int(time.time())
    headers = WebhookSigner(CURRENT, (OLDER, OLDEST)).headers("evt_2", now, BODY)
    values = headers["webhook-signature"].split(" ")
    assert len(values) == 3 and all(v.startswith("v1,") for v in values)
    assert values[0] == WebhookSigner(CURRENT).headers("evt_2", now, BODY)["webhook-signature"]  # current first
    for secret in (CURRENT, OLDER, OLDEST):  # a receiver holding only the fallback, too
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(fill=9)).verify(BODY, headers)  # a secret never configured


def test_a_fallback_alone_does_not_sign_for_the_current_secret() -> None:
    headers = WebhookSigner(CURRENT, (OLDER,)).headers("evt_3", int(time.time()), BODY)
    only_older = {**headers, "webhook-signature": headers["webhook-signature"].split(" ")[1]}
    Webhook(OLDER).verify(BODY, only_older)
    with pytest.raises(WebhookVerificationError):
        Webhook(CURRENT).verify(BODY, only_older)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, h: (body.replace(b"approved", b"canceled"), h),
        lambda body, h: (body + b" ", h),
        lambda body, h: (body, {**h, "webhook-id": "evt_other"}),
        lambda body, h: (body, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
    ],
    ids=["body", "trailing-byte", "id", "timestamp"],
)
def test_a_tampered_delivery_is_refused(
    tamper: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]],
) -> None:
    body, headers = tamper(BODY, WebhookSigner(CURRENT, (OLDER,)).headers("evt_4", int(time.time()), BODY))
    for secret in (CURRENT, OLDER):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, headers)


def test_a_stale_timestamp_is_refused_by_the_receiver() -> None:
    headers = WebhookSigner(CURRENT).headers("evt_5", int(time.time()) - 600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(CURRENT).verify(BODY, headers)


def test_the_signer_keeps_its_keys_out_of_its_repr_and_refuses_an_id_that_breaks_a_header() -> None:
    signer = WebhookSigner(CURRENT, (OLDER,))
    assert CURRENT.removeprefix("whsec_") not in repr(signer) and "2" in repr(signer)
    for bad in ("", "evt 1", "evt_1\r\nx-injected: 1"):
        with pytest.raises(ValueError):
            signer.headers(bad, 1, BODY)


# --- secrets -----------------------------------------------------------------------------------


def test_a_secret_decodes_to_its_key_padded_or_not() -> None:
    assert parse_secret("WEBHOOK_SECRET", _secret(24)) == bytes([7]) * 24
    assert parse_secret("WEBHOOK_SECRET", _secret(64)) == bytes([7]) * 64
    unpadded = _secret(32).rstrip("=")
    assert unpadded != _secret(32)
    assert parse_secret("WEBHOOK_SECRET", unpadded) == bytes([7]) * 32
    fresh = new_secret()
    assert len(parse_secret("WEBHOOK_SECRET", fresh)) == 32
    Webhook(fresh).verify(BODY, WebhookSigner(fresh).headers("evt_6", int(time.time()), BODY))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (base64.b64encode(bytes(32)).decode(), "must start with whsec_"),
        ("whsk_" + base64.b64encode(bytes(32)).decode(), "must start with whsec_"),
        (
            "whsec_" + base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
            "not valid base64",
        ),  # - and _: lenient decoders drop them
        ("whsec_not base64!", "not valid base64"),
        ("whsec_", "got 0"),
        (_secret(16), "must hold 24 to 64 bytes"),
        (_secret(23), "got 23"),
        (_secret(65), "got 65"),
    ],
)
def test_a_malformed_secret_is_refused_by_name_without_echoing_it(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as error:
        parse_secret("WEBHOOK_SECRET_FALLBACKS", value)
    assert error.value.variable == "WEBHOOK_SECRET_FALLBACKS"
    assert str(error.value).startswith("WEBHOOK_SECRET_FALLBACKS ")
    if len(value) > len("whsec_"):
        assert value.removeprefix("whsec_") not in str(error.value)


# --- settings ----------------------------------------------------------------------------------

DEV = {"APP_ENV": "development", "SECRET_KEY": "test-secret-key-0123456789"}
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 32,
    "API_KEYS": "k" * 32,
    "PUBLIC_BASE_URL": "https://verify.example.com",
    "REDIS_URL": "redis://127.0.0.1:1/0",  # parsed only: nothing connects in load_settings
    "OTP_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 31 + "1",
    "TWILIO_AUTH_TOKEN": "twilio-test-auth-token",
    "TWILIO_FROM": "+15005550006",
}


def _problems(config: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    return {p.variable: str(p) for p in error.value.problems}


@pytest.mark.parametrize("env", ["test", "production"])
def test_webhooks_are_off_by_default(env: str) -> None:
    config = {**DEV, "APP_ENV": env}
    if env == "production":
        config.update(API_KEYS="k" * 32, SECRET_KEY="s" * 32, PUBLIC_BASE_URL="https://verify.example.com", REDIS_URL="redis://localhost",
                      OTP_PROVIDER="twilio", TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="t" * 32,
                      TWILIO_FROM="+14155550100")  # fmt: skip
    settings = load_settings(config)
    assert (settings.webhook_url, settings.webhook_secret, settings.webhook_secret_fallbacks) == ("", "", ())
    assert settings.webhook_allow_private is False and settings.dev_receiver is False


def test_development_without_a_url_delivers_to_its_own_receiver() -> None:
    """`python app.py` (development): the demo page shows the events its own /dev/webhook received."""
    settings = load_settings({**DEV, "PORT": "5001"})
    assert settings.dev_receiver and settings.webhook_url == "http://127.0.0.1:5001/dev/webhook"
    assert parse_secret("WEBHOOK_SECRET", settings.webhook_secret)  # a random one of its own
    assert load_settings(DEV).webhook_secret != settings.webhook_secret
    mine = load_settings({**DEV, "WEBHOOK_URL": "http://127.0.0.1:9000/hooks", "WEBHOOK_SECRET": CURRENT})
    assert not mine.dev_receiver and mine.webhook_url == "http://127.0.0.1:9000/hooks"


def test_the_settings_are_read_and_the_secrets_kept_out_of_reprs() -> None:
    config = {**DEV, "WEBHOOK_URL": "http://127.0.0.1:9000/hooks", "WEBHOOK_SECRET": CURRENT,
              "WEBHOOK_SECRET_FALLBACKS": f" {OLDER} , {OLDEST} "}  # fmt: skip
    settings = load_settings(config)
    assert settings.webhook_url == "http://127.0.0.1:9000/hooks"
    assert settings.webhook_secret == CURRENT
    assert settings.webhook_secret_fallbacks == (OLDER, OLDEST)
    assert settings.webhook_private_allowed  # development: deliveries to this machine
    for secret in (CURRENT, OLDER, OLDEST):
        assert secret.removeprefix("whsec_") not in repr(settings)
    signer = WebhookSigner(settings.webhook_secret, settings.webhook_secret_fallbacks)
    Webhook(OLDEST).verify(BODY, signer.headers("evt_7", int(time.time()), BODY))


def test_a_url_without_a_secret_is_refused_and_told_a_fresh_one() -> None:
    problems = _problems({**DEV, "WEBHOOK_URL": "https://app.example.com/hooks"})
    assert set(problems) == {"WEBHOOK_SECRET"}
    assert "required when WEBHOOK_URL is set" in problems["WEBHOOK_SECRET"]
    suggested = problems["WEBHOOK_SECRET"].rsplit("WEBHOOK_SECRET=", 1)[1]
    assert len(parse_secret("WEBHOOK_SECRET", suggested)) == 32


def test_every_webhook_problem_is_reported_at_once_by_variable() -> None:
    config = {**DEV, "WEBHOOK_URL": "ftp://app.example.com/hooks", "WEBHOOK_SECRET": "whsec_short",
              "WEBHOOK_SECRET_FALLBACKS": f"{OLDER},{_secret(8)}", "WEBHOOK_ALLOW_PRIVATE": "maybe",
              "OTP_LENGTH": "3"}  # fmt: skip
    problems = _problems(config)
    assert set(problems) == {
        "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_SECRET_FALLBACKS", "WEBHOOK_ALLOW_PRIVATE", "OTP_LENGTH"
    }  # fmt: skip
    assert "http(s) URL" in problems["WEBHOOK_URL"] and "WEBHOOK_ALLOW_PRIVATE" not in problems["WEBHOOK_URL"]
    assert "(value 2)" in problems["WEBHOOK_SECRET_FALLBACKS"] and "got 8" in problems["WEBHOOK_SECRET_FALLBACKS"]
    assert "must be 1 or 0" in problems["WEBHOOK_ALLOW_PRIVATE"]


def test_a_secret_is_checked_even_without_a_url() -> None:
    assert set(_problems({**DEV, "WEBHOOK_SECRET": "topsecret"})) == {"WEBHOOK_SECRET"}


def test_development_takes_http_to_this_machine_only_unless_private_is_allowed() -> None:
    for url in (
        "http://127.0.0.1:9000/hooks",
        "http://localhost:9000/hooks",
        "http://[::1]:9000/",
        "https://10.0.0.5/",
    ):
        assert load_settings({**DEV, "WEBHOOK_URL": url, "WEBHOOK_SECRET": CURRENT}).webhook_url == url
    problems = _problems({**DEV, "WEBHOOK_URL": "http://app.example.com/hooks", "WEBHOOK_SECRET": CURRENT})
    assert "http:// only to a loopback host" in problems["WEBHOOK_URL"]
    assert "WEBHOOK_ALLOW_PRIVATE=1" in problems["WEBHOOK_URL"]
    allowed = {
        **DEV,
        "WEBHOOK_URL": "http://receiver:8000/hooks",
        "WEBHOOK_SECRET": CURRENT,
        "WEBHOOK_ALLOW_PRIVATE": "1",
    }
    assert load_settings(allowed).webhook_url == "http://receiver:8000/hooks"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://localhost/hooks", "resolves to"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        (f"http://{PUBLIC}/hooks", "must be https://"),
    ],
)
def test_production_refuses_a_url_into_the_private_network(url: str, why: str) -> None:
    problems = _problems({**PRODUCTION, "WEBHOOK_URL": url, "WEBHOOK_SECRET": CURRENT})
    assert set(problems) == {"WEBHOOK_URL"}
    assert why in problems["WEBHOOK_URL"]
    assert "WEBHOOK_ALLOW_PRIVATE=1" in problems["WEBHOOK_URL"]


def test_production_takes_a_public_https_url_and_never_echoes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({**PRODUCTION, "WEBHOOK_URL": f"https://{PUBLIC}/hooks", "WEBHOOK_SECRET": CURRENT})
    assert settings.webhook_url == f"https://{PUBLIC}/hooks" and not settings.webhook_private_allowed
    problems = _problems(
        {**PRODUCTION, "WEBHOOK_URL": "https://127.0.0.1/hooks?token=tok-s3cr3t", "WEBHOOK_SECRET": CURRENT}
    )
    assert "tok-s3cr3t" not in problems["WEBHOOK_URL"]


def test_production_refuses_a_name_that_does_not_resolve_without_blaming_privacy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    problems = _problems({**PRODUCTION, "WEBHOOK_URL": "https://hooks.example.test/", "WEBHOOK_SECRET": CURRENT})
    assert "does not resolve" in problems["WEBHOOK_URL"] and "WEBHOOK_ALLOW_PRIVATE" not in problems["WEBHOOK_URL"]


def test_production_with_private_allowed_takes_http_to_a_private_host() -> None:
    config = {**PRODUCTION, "WEBHOOK_URL": "http://10.0.0.5:8080/hooks", "WEBHOOK_SECRET": CURRENT,
              "WEBHOOK_ALLOW_PRIVATE": "1"}  # fmt: skip
    settings = load_settings(config)
    assert settings.webhook_url == "http://10.0.0.5:8080/hooks" and settings.webhook_private_allowed


# --- the SSRF guard ----------------------------------------------------------------------------


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"connected: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def _answers(*addresses: str) -> list[tuple[Any, ...]]:
    found = []
    for address in addresses:
        if ":" in address:
            found.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 443, 0, 0)))
        else:
            found.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443)))
    return found


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://127.9.9.9/", "loopback"),
        ("https://10.0.0.1/", "private"),
        ("https://172.16.4.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://169.254.1.1/", "link-local"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://240.0.0.1/", "private"),  # reserved (Python counts 240/4 as private too)
        ("https://[::1]/", "loopback"),
        ("https://[::]/", "unspecified"),
        ("https://[::ffff:10.0.0.1]/", "IPv4-mapped private"),
        ("https://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fc00::1]/", "private"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[64:ff9b::a00:1]/", "NAT64 private"),
        ("https://[2002:a00:1::]/", "6to4 private"),
        ("https://localhost/", "resolves to"),
    ],
)
def test_the_guard_refuses_addresses_that_are_not_public(url: str, why: str, no_connections: None) -> None:
    with pytest.raises(UnsafeDestination, match=why) as error:
        check_destination(url, allow_private=False)
    assert isinstance(error.value, ValueError)
    assert "not public" in str(error.value)


@pytest.mark.parametrize("url", [f"https://{PUBLIC}/hooks", "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/x"])
def test_the_guard_accepts_a_public_literal_without_connecting(url: str, no_connections: None) -> None:
    check_destination(url, allow_private=False)


def test_every_address_of_a_name_must_be_public(monkeypatch: pytest.MonkeyPatch, no_connections: None) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: _answers(PUBLIC, "10.9.8.7"))
    with pytest.raises(UnsafeDestination, match=r"resolves to 10\.9\.8\.7"):
        check_destination("https://hooks.example.test/", allow_private=False)
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: _answers(PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    )
    check_destination("https://hooks.example.test/", allow_private=False)


def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UnsafeDestination, match="does not resolve"):
        check_destination("https://hooks.example.test/", allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "https:///nohost", "example.com/hooks", "https://h:99999/"])
def test_the_guard_refuses_what_is_not_an_http_url_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_destination(url, allow_private=True)


def test_allow_private_skips_https_and_resolution(monkeypatch: pytest.MonkeyPatch, no_connections: None) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    check_destination("http://10.0.0.1:8080/hooks", allow_private=True)
    check_destination("http://receiver/hooks", allow_private=True)
    with pytest.raises(UnsafeDestination, match="https"):
        check_destination(f"http://{PUBLIC}/hooks", allow_private=False)


class _Receiver:
    """A real HTTP server on a free loopback port that records every connection and request."""

    def __init__(self, status: int = 204, location: str = "") -> None:
        receiver = self
        self.connections = 0
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.requests.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                receiver.connections += 1
                return super().get_request()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.close()


def test_a_dns_answer_rebound_to_loopback_after_the_check_never_reaches_the_server(
    monkeypatch: pytest.MonkeyPatch, receiver: _Receiver
) -> None:
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """hooks.example.test: public at the first lookup (the start-up check), loopback from then on."""
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = PUBLIC if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"https://hooks.example.test:{receiver.port}/events"
    check_destination(url, allow_private=False)  # start-up: the public answer passes

    signer = WebhookSigner(CURRENT)
    with session(allow_private=False) as guarded, pytest.raises(DestinationRefused, match=r"127\.0\.0\.1") as error:
        guarded.post(url, data=BODY, headers=signer.headers("evt_8", int(time.time()), BODY))
    assert isinstance(error.value, requests.RequestException)  # a worker's "retry later" catches it
    assert "loopback" in str(error.value)
    assert len(lookups) == 2  # resolved again at the connection, not trusted from the start-up check
    assert receiver.connections == 0 and receiver.requests == []

    # The same rebinding through a plain requests session does reach the server: the guard is what
    # stopped it (and had that first attempt connected, the server would have accepted it first).
    plain_url = f"http://hooks.example.test:{receiver.port}/events"
    assert requests.post(plain_url, data=BODY, timeout=5).status_code == 204
    assert receiver.connections == 1 and receiver.requests == ["/events"]


def test_a_public_answer_is_connected_to_as_checked_with_no_second_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    dialled: list[Any] = []

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        return _answers(PUBLIC)

    def connect(sock: socket.socket, address: Any) -> None:
        dialled.append(address)
        raise ConnectionRefusedError("refused (test)")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", connect)
    with session(allow_private=False) as guarded, pytest.raises(requests.ConnectionError) as error:
        guarded.post("https://hooks.example.test/events", data=BODY)
    assert not isinstance(error.value, DestinationRefused)  # an ordinary failure, retried as such
    assert lookups == ["hooks.example.test"] and dialled == [(PUBLIC, 443)]


def test_the_guarded_session_sends_nothing_over_http_or_through_a_proxy(no_connections: None) -> None:
    with session(allow_private=False) as guarded:
        assert guarded.trust_env is False  # HTTPS_PROXY from the environment would bypass the check
        with pytest.raises(DestinationRefused, match="https"):
            guarded.post(f"http://{PUBLIC}/hooks", data=BODY)
        with pytest.raises(DestinationRefused, match="proxy"):
            guarded.post(f"https://{PUBLIC}/hooks", data=BODY, proxies={"https": "http://127.0.0.1:3128"})


def test_redirects_are_never_followed() -> None:
    server = _Receiver(status=307, location="/elsewhere")
    try:
        with session(allow_private=True) as http:
            answer = http.post(f"http://127.0.0.1:{server.port}/events", data=BODY, allow_redirects=True)
        assert answer.status_code == 307 and answer.headers["Location"] == "/elsewhere"
        assert server.requests == ["/events"]
    finally:
        server.close()


def test_requests_time_out_after_ten_seconds_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs["timeout"])
        raise requests.ConnectTimeout("test")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    assert TIMEOUT == 10
    for allow_private in (False, True):
        with session(allow_private) as http:
            for kwargs in ({}, {"timeout": 2.5}):
                with pytest.raises(requests.ConnectTimeout):
                    http.post(f"https://{PUBLIC}/hooks", data=BODY, **kwargs)
    assert seen == [TIMEOUT, 2.5, TIMEOUT, 2.5]


def test_not_public_reads_zoned_and_mapped_addresses() -> None:
    assert outbound.not_public(PUBLIC) is None
    assert outbound.not_public("::ffff:93.184.215.14") is None  # mapped public: connects to a public address
    assert outbound.not_public("fe80::1%eth0") == "link-local"
