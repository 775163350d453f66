"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webhooks.context import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers (no dependency is touched: this is also the benchmark ceiling)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the store answers; 503 tells the load balancer to send traffic elsewhere."""
    if service().store.ping():
        return jsonify({"status": "ready"}), 200
    return jsonify({"status": "unavailable", "store": "unreachable"}), 503
