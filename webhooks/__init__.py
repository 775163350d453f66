"""Flask adapters: parse a request, call the service, render the answer. No provider SDKs here."""

from __future__ import annotations

from flask import Flask

from telephony.config import Settings
from webhooks import api, approvals, carrier, cli, demo, errors, factors, health, metrics, notices, openapi, v2


def init_app(app: Flask, settings: Settings) -> None:
    errors.init_app(app)
    metrics.init_app(app)
    app.cli.add_command(cli.otp)
    app.register_blueprint(api.bp)
    app.register_blueprint(approvals.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(factors.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(carrier.bp)
    if settings.demo_enabled:
        app.register_blueprint(demo.bp)
    if settings.development:
        app.register_blueprint(demo.dev)
