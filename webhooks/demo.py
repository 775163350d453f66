"""The demo page and the seed tutorials' form endpoints, plus the development outbox.

`/request-auth` and `/validate-auth` answer exactly as the SignalWire tutorial did, so code written
against it keeps working, but run through the same service, limits and store as /v1.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from telephony.errors import InvalidPhone, InvalidRequest, MaxAttempts, NotFound, NotPending, ServiceError
from telephony.limits import Origin
from webhooks.context import service

bp = Blueprint("demo", __name__, template_folder="templates")
dev = Blueprint("dev", __name__, url_prefix="/dev")


def text(message: str, status: int) -> tuple[Response, int]:
    return Response(message, mimetype="text/plain"), status


@bp.get("/")
def index() -> str:
    return render_template("demo.html", brand=service().settings.otp_brand)


@bp.post("/request-auth")
def request_auth() -> tuple[Response, int]:
    try:
        service().start(request.form.get("number", ""), "sms", origin=Origin(ip=request.remote_addr))
    except (InvalidPhone, InvalidRequest):
        return text("Invalid Phone Number", 400)
    except ServiceError as exc:
        return text(exc.message, exc.status)
    return text("Your code was sent", 200)


@bp.post("/validate-auth")
def validate_auth() -> tuple[Response, int]:
    try:
        _, valid = service().check_by_number(request.form.get("number", ""), request.form.get("auth_code", ""))
    except InvalidPhone:
        return text("Invalid Phone Number", 400)
    except (InvalidRequest, NotFound, NotPending, MaxAttempts):
        # One answer for every refusal: the page must not tell which numbers have codes pending.
        valid = False
    return text("Success!", 200) if valid else text("Forbidden", 403)


@dev.get("/outbox")
def outbox() -> Response:
    return jsonify({"sends": service().store.outbox_list()})
