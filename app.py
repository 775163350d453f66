"""The application factory. Nothing is created at import; `python app.py` runs a development server."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from gunicorn.errors import AppImportError  # type: ignore[import-untyped]
from jinja2 import StrictUndefined
from werkzeug.http import parse_set_header
from werkzeug.middleware.proxy_fix import ProxyFix

import webhooks
from telephony.approval_service import ApprovalService
from telephony.codes import CodeVault
from telephony.config import gather, load_settings
from telephony.errors import ConfigError
from telephony.factor_service import FactorService
from telephony.notice_service import NoticeService
from telephony.providers import build_providers
from telephony.service import VerificationService
from telephony.store import KeyNames, Store, store_from_url
from webhooks.cli import development_tool_running, start_worker_thread

MAX_BODY = 16 * 1024


class CliConfigError(ConfigError, click.ClickException):
    """A `ConfigError` that click reports as one `Error: ...` line and exit status 2."""

    exit_code = 2

    def __init__(self, error: ConfigError) -> None:
        click.ClickException.__init__(self, f"configuration error: {error}")
        self.variable, self.problems = error.variable, error.problems


class ServerConfigError(ConfigError, AppImportError, RuntimeError):
    """A `ConfigError` gunicorn reports as its message alone before it exits non-zero.

    gunicorn prints an `AppImportError` raised in a worker without a traceback (any other exception
    gets one), and a `RuntimeError` raised while preloading in the master the same way.
    """

    def __init__(self, error: ConfigError) -> None:
        ValueError.__init__(self, f"configuration error: {error}")
        self.variable, self.problems = error.variable, error.problems


def create_app(
    config: Mapping[str, str] | None = None,
    *,
    store: Store | None = None,
    clock: Callable[[], float] | None = None,
) -> Flask:
    """Build the app from `config` (environment names) over the environment over `.env`.

    Raises `ConfigError` naming the variable when a setting is missing or invalid. `store` and
    `clock` let tests share one store between apps or drive time by hand.
    """
    raw = gather(config)
    if not raw.get("APP_ENV", "").strip() and development_tool_running():
        raw["APP_ENV"] = "development"  # `flask otp try` from the quick start, like `python app.py`
    try:
        settings = load_settings(raw)
    except ConfigError as exc:
        if click.get_current_context(silent=True) is not None:
            raise CliConfigError(exc) from None  # the Flask CLI prints one line, no traceback
        if "gunicorn.arbiter" in sys.modules:
            raise ServerConfigError(exc) from None
        raise
    _configure_logging()
    app = Flask(__name__, template_folder="xml_templates")
    app.jinja_env.undefined = StrictUndefined
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, TESTING=settings.app_env == "test")
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # keep the contract's field order
    names = KeyNames(settings.secret_key, settings.secret_key_fallbacks)
    store = store or store_from_url(settings.redis_url, names=names, clock=clock)
    service = VerificationService(
        settings,
        store,
        build_providers(settings, store),
        CodeVault(settings.secret_key, settings.secret_key_fallbacks),
        clock=clock,
    )
    app.extensions["verification"] = service
    if settings.test_numbers and not settings.development:  # never a surprise in production
        logging.getLogger("telephony").warning(
            "event=test_numbers.configured count=%d note=their_verifications_send_nothing", len(settings.test_numbers)
        )
    app.extensions["approvals"] = ApprovalService(service)
    app.extensions["notices"] = NoticeService(service)
    app.extensions["factors"] = FactorService(store, service.vault, clock=service.clock)  # its store, keys and clock
    if settings.trust_proxy:
        # Client IPs (per-IP limits) and the URL a proxy reports come from its X-Forwarded-* headers.
        n = settings.trust_proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, MAX_BODY)  # type: ignore[method-assign]
    webhooks.init_app(app, settings)
    return app


class ChunkedBodyLimit:
    """Reads a chunked body (it has no Content-Length) up to one byte past `limit`, and hands it on
    with its length known: over the limit, Flask refuses it with 413 as it does a long Content-Length.

    Werkzeug alone stops reading such a stream at MAX_CONTENT_LENGTH and hands on what it read,
    so the app would act on a truncated body instead of refusing it.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunked = "chunked" in parse_set_header(environ.get("HTTP_TRANSFER_ENCODING"))
        # Only a server that ends the de-chunked stream itself (gunicorn, Werkzeug's) can be read to its end.
        if chunked and environ.get("wsgi.input_terminated"):
            body = b""
            while len(body) <= self.limit and (piece := environ["wsgi.input"].read(self.limit + 1 - len(body))):
                body += piece
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]  # else Werkzeug ignores the length and streams again
        return self.app(environ, start_response)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("telephony").setLevel(logging.INFO)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # request dumps are noise


def main() -> None:
    overrides = {} if gather(None).get("APP_ENV") else {"APP_ENV": "development"}
    try:
        app = create_app(overrides)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    verification = app.extensions["verification"]
    start_worker_thread(app)  # development has no separate worker process
    app.run(host="127.0.0.1", port=verification.settings.port, threaded=True)


if __name__ == "__main__":
    main()
