"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response

from webhooks.context import service
from webhooks.jsonio import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers (no dependency is touched: this is also the benchmark ceiling)."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when the store answers; 503 tells the load balancer to send traffic elsewhere."""
    if service().store.ping():
        return json_response({"status": "ready"})
    return json_response({"status": "unavailable", "store": "unreachable"}, 503)
