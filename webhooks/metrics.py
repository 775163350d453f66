"""Prometheus metrics at /metrics, fed by domain events and request timing.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (webhooks/gunicorn_config.py
does) and /metrics adds up every worker's numbers.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from telephony.events import observe
from telephony.models import Verification

bp = Blueprint("metrics", __name__)

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
    if name == "send.accepted":
        SENDS.labels(fields["channel"], fields["provider"], "accepted").inc()
    elif name == "send.failed":
        SENDS.labels(fields["channel"], fields["provider"], "failed").inc()
    elif name == "status.updated" and v is not None:
        index = int(str(fields["attempt"]))
        attempt = v.attempts[index]
        SENDS.labels(attempt.channel, attempt.provider, fields.get("status") or "unknown").inc()
    elif name == "verification.checked":
        valid = bool(fields.get("valid"))
        CHECKS.labels("approved" if valid else "wrong").inc()
        if valid:
            APPROVALS.inc()
    elif name == "verification.locked":
        CHECKS.labels("locked").inc()
    elif name == "verification.fallback":
        FALLBACKS.labels(str(fields.get("trigger", "unknown"))).inc()
    elif name == "send.refused":
        REFUSED.labels(str(fields.get("reason"))).inc()
    elif name == "webhook.signature_invalid":
        SIGNATURES.labels(str(fields.get("provider"))).inc()


@bp.get("/metrics")
def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


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
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            LATENCY.labels(endpoint, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response
