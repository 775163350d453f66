"""The approval requests API under /v1/approvals: JSON in, the contract's approval shape out."""

from __future__ import annotations

from flask import Blueprint, Response, request

from telephony.approvals import Approval
from telephony.errors import InvalidRequest
from webhooks.api import authenticate, body, no_store, origin
from webhooks.context import approvals
from webhooks.jsonio import json_response
from webhooks.views import approval_view

bp = Blueprint("approvals", __name__, url_prefix="/v1/approvals")
bp.before_request(authenticate)
bp.after_request(no_store)


def answer(a: Approval, status: int = 200) -> tuple[Response, int]:
    return json_response(approval_view(a, approvals().codes.clock()), status), status


@bp.post("")
def start_approval() -> tuple[Response, int]:
    data = body("to", "message", "details", "hidden_details", "channel", "expires_in", "locale", "client_ip",
                required=("to", "message"), typed=False)  # fmt: skip
    for name in ("client_ip", "channel", "locale"):
        if name in data and not isinstance(data[name], str):
            raise InvalidRequest(f"`{name}` must be a string.")
    for name in ("details", "hidden_details", "expires_in"):  # the service checks their types; null is none of them
        if name in data and data[name] is None:
            raise InvalidRequest(f"`{name}` must not be null.")
    client_ip = data.get("client_ip")
    a = approvals().start(
        data["to"], data["message"], details=data.get("details"), hidden_details=data.get("hidden_details"),
        channel=data.get("channel", "sms"), expires_in=data.get("expires_in"), locale=data.get("locale"),
        origin=origin(client_ip),
    )  # fmt: skip
    response, status = answer(a, 201)
    response.headers["Location"] = f"{request.script_root}/v1/approvals/{a.id}"
    return response, status


@bp.get("/<approval_id>")
def get_approval(approval_id: str) -> tuple[Response, int]:
    return answer(approvals().get(approval_id))


@bp.post("/<approval_id>/cancel")
def cancel_approval(approval_id: str) -> tuple[Response, int]:
    body()
    return answer(approvals().cancel(approval_id))
