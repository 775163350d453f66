"""Prometheus metrics at /metrics, fed by domain events and request timing.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (webhooks/gunicorn_config.py
does) and /metrics adds up every worker's numbers.

Every label value comes from a fixed set (anything else is `other`): each new value is a new
series, and under gunicorn a new file per worker, so a label a client could choose would let
anyone grow our memory and disk without limit.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from typing import get_args

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from telephony.config import PROVIDERS
from telephony.errors import ServiceError
from telephony.events import observe
from telephony.lifecycle import Event
from telephony.models import Channel, Verification
from webhooks.context import service

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


def known(value: object, allowed: frozenset) -> str:
    """`value` as a label when it is one of `allowed`, else `other`."""
    return str(value) if value in allowed else OTHER


class MetricsUnauthorized(ServiceError):
    code, status = "unauthorized", 401


class MetricsForbidden(ServiceError):
    code, status = "forbidden", 403


SENDS = Counter("otp_sends_total", "Provider attempts and their statuses.", ["channel", "provider", "status"])
CHECKS = Counter("otp_checks_total", "Code checks by outcome.", ["outcome"])
APPROVALS = Counter("otp_approvals_total", "Verifications approved.")
FALLBACKS = Counter("otp_fallbacks_total", "SMS-to-call fallbacks placed.", ["trigger"])
REFUSED = Counter("otp_sends_refused_total", "Sends refused by a limit.", ["reason"])
SIGNATURES = Counter("otp_webhook_signatures_rejected_total", "Webhooks refused for their signature.", ["provider"])
LATENCY = Histogram(
    "otp_request_duration_seconds", "Request latency.", ["endpoint", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)  # fmt: skip


def _on_event(name: str, v: Verification | None, fields: dict[str, object]) -> None:
    if name in ("send.accepted", "send.failed"):
        status = name.removeprefix("send.")
        SENDS.labels(known(fields.get("channel"), CHANNELS), known(fields.get("provider"), SENDERS), status).inc()
    elif name == "status.updated" and v is not None:
        index = int(str(fields["attempt"]))
        attempt = v.attempts[index]
        status = known(fields.get("status") or "unknown", SEND_STATUSES)
        SENDS.labels(known(attempt.channel, CHANNELS), known(attempt.provider, SENDERS), status).inc()
    elif name == "verification.checked":
        valid = bool(fields.get("valid"))
        CHECKS.labels("approved" if valid else "wrong").inc()
        if valid:
            APPROVALS.inc()
    elif name == "verification.locked":
        CHECKS.labels("locked").inc()
    elif name == "verification.fallback":
        FALLBACKS.labels(known(fields.get("trigger"), TRIGGERS)).inc()
    elif name == "send.refused":
        REFUSED.labels(known(fields.get("reason"), REASONS)).inc()
    elif name == "webhook.signature_invalid":
        SIGNATURES.labels(known(fields.get("provider"), SENDERS)).inc()


@bp.get("/metrics")
def metrics() -> Response:
    _authorize()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


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
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response
