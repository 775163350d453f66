"""The notices API under /v1/notices: JSON in, the contract's notice shape out."""

from __future__ import annotations

from flask import Blueprint, Response, request

from webhooks.api import authenticate, body, no_store, origin
from webhooks.context import notices
from webhooks.jsonio import json_response
from webhooks.views import notice_view

bp = Blueprint("notices", __name__, url_prefix="/v1/notices")
bp.before_request(authenticate)
bp.after_request(no_store)


@bp.post("")
def send_notice() -> tuple[Response, int]:
    data = body("to", "kind", "locale", required=("to", "kind"))
    # Sent by the application after an account change, not by the user: counted per API key, not per user IP.
    n = notices().send(data["to"], data["kind"], data.get("locale"), origin=origin(None))
    response = json_response(notice_view(n), 201)
    response.headers["Location"] = f"{request.script_root}/v1/notices/{n.id}"
    return response, 201


@bp.get("/<notice_id>")
def get_notice(notice_id: str) -> tuple[Response, int]:
    return json_response(notice_view(notices().get(notice_id)), 200), 200
