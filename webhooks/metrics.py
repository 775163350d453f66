"""Prometheus metrics at /metrics, fed by domain events and request timing.

Several processes add up through one PROMETHEUS_MULTIPROC_DIR: gunicorn's workers and the
`otp worker` (which places the fallback calls) call `share_across_processes()` before they count
anything. prometheus_client decides once, when it is imported, whether it counts in memory or in
that directory, so it is imported only on first use: importing this module (as gunicorn's config
does, before the variable is set) must not fix the choice.

Every label value comes from a fixed set (anything else is `other`): each new value is a new
series, and under gunicorn a new file per worker, so a label a client could choose would let
anyone grow our memory and disk without limit.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import get_args

from flask import Blueprint, Flask, Response, g, request

from telephony.config import PROVIDERS
from telephony.errors import ServiceError
from telephony.eventlog import EVENT_TYPES
from telephony.events import observe
from telephony.lifecycle import Event
from telephony.models import Channel, Verification
from webhooks.context import service

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
bp = Blueprint("metrics", __name__)

OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_STATUSES = frozenset({200, 201, 204, 301, 302, 308, 400, 401, 403, 404, 405, 409, 410, 413, 415, 429, 500,
                           502, 503})  # fmt: skip
SEND_STATUSES = frozenset({"accepted", "failed", "unknown", "queued", "sent", "delivered", "undelivered", "ringing",
                           "answered", "completed", "busy", "no-answer"})  # fmt: skip
SENDERS = frozenset({*PROVIDERS, "test"})  # `test`: the sends of OTP_TEST_NUMBERS
CHANNELS = frozenset(c.value for c in Channel)
REASONS = frozenset({"opted_out", "limited", "pumping"})  # an Admission's refusals
TRIGGERS = frozenset(kind.__name__ for kind in get_args(Event))  # the lifecycle change that caused it
LIFECYCLE_EVENTS = frozenset(EVENT_TYPES)
DELIVERY_OUTCOMES = {"event.delivered": "delivered", "event.retry": "retry", "event.delivery_failed": "failed"}


def known(value: object, allowed: frozenset) -> str:
    """`value` as a label when it is one of `allowed`, else `other`."""
    return str(value) if value in allowed else OTHER


class MetricsUnauthorized(ServiceError):
    code, status = "unauthorized", 401


class MetricsForbidden(ServiceError):
    code, status = "forbidden", 403


def default_directory() -> Path:
    """The directory every process of this checkout finds without being told: the web workers and
    the worker started from the same Procfile agree on it, and each start reuses it (a fresh one
    per start left an empty directory behind every time)."""
    checkout = str(Path(__file__).resolve().parent.parent).encode()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"otp-metrics-{uid}-{hashlib.sha256(checkout).hexdigest()[:12]}"


def share_across_processes() -> Path | None:
    """Count into PROMETHEUS_MULTIPROC_DIR (set to `default_directory()` when unset), so /metrics
    adds up every process that calls this before it counts. Returns the directory, or None when
    this process already counts in memory (prometheus_client cannot switch once imported: a
    command run inside a test process)."""
    if _counting_in_memory():
        return None
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = str(default_directory())
    directory = Path(os.environ[MULTIPROC_ENV])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid") and directory.stat().st_uid != os.getuid():
        # In a shared /tmp another user could have made it first and would read or forge our numbers.
        raise RuntimeError(f"{directory} belongs to another user; set {MULTIPROC_ENV} to a directory of ours")
    return directory


def _counting_in_memory() -> bool:
    values = sys.modules.get("prometheus_client.values")
    return values is not None and values.ValueClass is values.MutexValue


def forget_dead_processes(directory: Path) -> int:
    """Remove the files of processes that no longer run (a previous start's), so the directory does
    not grow with every restart. Only for `default_directory()`: its processes share this machine's
    process ids, which a directory shared between containers does not. Returns how many went."""
    removed = 0
    for path in directory.glob("*.db"):
        found = re.search(r"_(\d+)\.db$", path.name)
        if found and not _alive(int(found.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.sends = Counter(
            "otp_sends_total", "Provider attempts and their statuses.", ["channel", "provider", "status"]
        )
        self.checks = Counter("otp_checks_total", "Code checks by outcome.", ["outcome"])
        self.approvals = Counter("otp_approvals_total", "Verifications approved.")
        self.fallbacks = Counter("otp_fallbacks_total", "SMS-to-call fallbacks placed.", ["trigger"])
        self.refused = Counter("otp_sends_refused_total", "Sends refused by a limit.", ["reason"])
        self.signatures = Counter(
            "otp_webhook_signatures_rejected_total", "Webhooks refused for their signature.", ["provider"]
        )
        self.events = Counter("otp_events_total", "Lifecycle events logged, by type.", ["type"])
        self.deliveries = Counter(
            "otp_event_deliveries_total", "Webhook delivery attempts: delivered, retry (to be tried again) or failed "
            "(given up: 410 or the schedule spent).", ["outcome"],
        )  # fmt: skip
        self.delivery_latency = Histogram(
            "otp_event_delivery_seconds", "From the change to its event's delivery (retries included).",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200, 36000, 100000),
        )  # fmt: skip
        self.latency = Histogram(
            "otp_request_duration_seconds", "Request latency.", ["endpoint", "method", "status"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )  # fmt: skip


_FIRST_USE = threading.Lock()


@functools.cache
def _metrics() -> _Metrics:
    # Two threads' first events at once (a web request and the worker thread) would register every
    # metric twice, and prometheus_client refuses the second: one of them builds the set.
    with _FIRST_USE:
        return _built()


@functools.cache
def _built() -> _Metrics:
    return _Metrics()


def _on_event(name: str, v: Verification | None, fields: dict[str, object]) -> None:
    m = _metrics()
    if name in ("send.accepted", "send.failed"):
        status = name.removeprefix("send.")
        m.sends.labels(known(fields.get("channel"), CHANNELS), known(fields.get("provider"), SENDERS), status).inc()
    elif name == "status.updated" and v is not None:
        index = int(str(fields["attempt"]))
        attempt = v.attempts[index]
        status = known(fields.get("status") or "unknown", SEND_STATUSES)
        m.sends.labels(known(attempt.channel, CHANNELS), known(attempt.provider, SENDERS), status).inc()
    elif name == "verification.checked":
        valid = bool(fields.get("valid"))
        m.checks.labels("approved" if valid else "wrong").inc()
        if valid:
            m.approvals.inc()
    elif name == "verification.locked":
        m.checks.labels("locked").inc()
    elif name == "verification.fallback":
        m.fallbacks.labels(known(fields.get("trigger"), TRIGGERS)).inc()
    elif name == "send.refused":
        m.refused.labels(known(fields.get("reason"), REASONS)).inc()
    elif name == "event.created":
        m.events.labels(known(fields.get("type"), LIFECYCLE_EVENTS)).inc()
    elif name in DELIVERY_OUTCOMES:
        m.deliveries.labels(DELIVERY_OUTCOMES[name]).inc()
        latency = fields.get("latency")
        if isinstance(latency, float | int):
            m.delivery_latency.observe(latency)
    elif name == "webhook.signature_invalid":
        m.signatures.labels(known(fields.get("provider"), SENDERS)).inc()


@bp.get("/metrics")
def metrics() -> Response:
    _authorize()
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    _metrics()  # registered before the first count, so a fresh process lists them too
    registry = REGISTRY
    if not _counting_in_memory():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _authorize() -> None:
    """METRICS_TOKEN when set; else production answers only this machine and private networks."""
    settings = service().settings
    if settings.metrics_token:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.metrics_token.encode()
        ):
            raise MetricsUnauthorized("Send `Authorization: Bearer <METRICS_TOKEN>`.")
    elif not settings.development and not _private(request.remote_addr):
        raise MetricsForbidden("/metrics answers private networks only; set METRICS_TOKEN to read it from elsewhere.")


def _private(address: str | None) -> bool:
    """Loopback or private (remote_addr is already the client's own behind a trusted proxy)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_private


def init_app(app: Flask) -> None:
    observe(_on_event)
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            # The rule, never the path; the status from a fixed set too (a view may pass a carrier's through).
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            labels = endpoint, known(request.method, METHODS), known(response.status_code, HTTP_STATUSES)
            _metrics().latency.labels(*labels).observe(time.perf_counter() - started)
        return response
