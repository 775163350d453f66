"""Every error leaves in the contract's shape: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from telephony.errors import ServiceError
from telephony.events import event
from webhooks.jsonio import json_response
from webhooks.views import approval_view, verification_view

# Werkzeug's own refusals, in the contract's words.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, *, retry_after: int | None = None, extra: dict | None = None
) -> Response:
    """The contract's error shape; `extra` adds top-level fields beside `error` (the 503's `outcome`)."""
    response = json_response({"error": {"code": code, "message": message}, **(extra or {})}, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, retry_after))
    return response


def _service_error(exc: ServiceError) -> Response:
    extra: dict[str, Any] = dict(exc.extra)
    if exc.verification is not None:
        extra["verification"] = verification_view(exc.verification)
    if exc.approval is not None:
        extra["approval"] = approval_view(exc.approval)
    return error_response(exc.status, exc.code, exc.message, retry_after=exc.retry_after, extra=extra)


def _http_error(exc: HTTPException) -> Response:
    if request.path == "/v2" or request.path.startswith("/v2/"):  # a Twilio client reads Twilio's shape
        from webhooks import v2

        return v2.http_error(exc)
    status = exc.code or 500
    if status == 413:
        return error_response(413, "payload_too_large", "The request body is over 16 KiB.")
    response = error_response(status, _HTTP_CODES.get(status, "invalid_request"), exc.description or exc.name)
    for name, value in exc.get_headers():
        if name == "Allow":  # a 405 names the methods that would work (RFC 9110)
            response.headers[name] = value
    return response


def _unexpected(exc: Exception) -> Response:
    # One line, traceback included and escaped: its text (a path, an exception's message) may come
    # from the request, and a multi-line record would let it start a line of its own.
    trace = "".join(traceback.format_exception(exc))
    event("request.error", level=logging.ERROR, path=request.path, error=type(exc).__name__, traceback=trace)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def init_app(app: Flask) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
