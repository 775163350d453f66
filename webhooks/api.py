"""The REST API under /v1: JSON in, the contract's verification shape out."""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, g, request

from telephony.errors import InvalidRequest, ServiceError
from telephony.eventlog import EVENT_ID
from telephony.limits import Origin, client_address
from telephony.models import Verification
from webhooks.context import service
from webhooks.event_views import event_view
from webhooks.jsonio import json_response
from webhooks.views import verification_view

bp = Blueprint("api", __name__, url_prefix="/v1")


class Unauthorized(ServiceError):
    code, status = "unauthorized", 401


class UnsupportedMediaType(ServiceError):
    code, status = "unsupported_media_type", 415


@bp.before_request
def authenticate() -> None:
    keys = service().settings.api_keys
    if not keys:
        return  # development without API_KEYS: /v1 is open (production refuses to start so)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    supplied = token.strip().encode()
    # Compare against every key so the time taken says nothing about which one came close.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(supplied, key.encode())
    if scheme.lower() != "bearer" or not matched:
        raise Unauthorized("Send `Authorization: Bearer <API key>`.")
    g.api_key = token.strip()


def body(*allowed: str, required: tuple[str, ...] = (), typed: bool = True) -> dict[str, Any]:
    """The JSON object sent, holding only `allowed` fields and every `required` one; `typed`: each a
    string (else the caller checks each field's type)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    elif not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
            raise InvalidRequest("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidRequest(f"Unknown field: {unknown[0]}.")
    for name in required:
        if name not in data:
            raise InvalidRequest(f"Missing field: {name}.")
    for name, value in data.items():
        if typed and not isinstance(value, str):
            raise InvalidRequest(f"`{name}` must be a string.")
    return data


def answer(v: Verification, status: int = 200, **extra: Any) -> tuple[Response, int]:
    return json_response({**verification_view(v), **extra}, status), status


def origin(client_ip: str | None) -> Origin:
    """Who a start is counted against. A backend calling with an API key sends from one address for
    all its users: its own address says nothing, so the key is counted, and the end user's address
    when the backend passes it as `client_ip`. Without a key the caller is the user (demo, development)."""
    api_key = g.get("api_key")
    if api_key is None:
        return Origin(ip=request.remote_addr)
    if client_ip is None:
        return Origin(api_key=api_key)
    try:
        return Origin(ip=client_address(client_ip), api_key=api_key)
    except ValueError:
        raise InvalidRequest("`client_ip` must be an IPv4 or IPv6 address.") from None


@bp.post("/verifications")
def start_verification() -> tuple[Response, int]:
    data = body("to", "channel", "locale", "client_ip", "purpose", required=("to",))
    v, created = service().start_or_resend(
        data["to"], data.get("channel", "sms"), data.get("locale"), origin(data.get("client_ip")),
        purpose=data.get("purpose", "login"),
    )
    response, status = answer(v, 201 if created else 200)
    response.headers["Location"] = f"{request.script_root}/v1/verifications/{v.id}"
    return response, status


@bp.get("/verifications/<verification_id>")
def get_verification(verification_id: str) -> tuple[Response, int]:
    return answer(service().get(verification_id))


@bp.post("/verifications/<verification_id>/check")
def check_verification(verification_id: str) -> tuple[Response, int]:
    data = body("code", "purpose", required=("code",))
    v, valid = service().check(verification_id, data["code"], purpose=data.get("purpose"))
    return answer(v, valid=valid)


@bp.post("/verification-checks")
def check_by_number() -> tuple[Response, int]:
    data = body("to", "code", "purpose", required=("to", "code"))
    v, valid = service().check_by_number(data["to"], data["code"], purpose=data.get("purpose", "login"))
    return answer(v, valid=valid)


@bp.post("/verifications/<verification_id>/resend")
def resend_verification(verification_id: str) -> tuple[Response, int]:
    data = body("channel")
    return answer(service().resend(verification_id, data.get("channel")))


@bp.post("/verifications/<verification_id>/cancel")
def cancel_verification(verification_id: str) -> tuple[Response, int]:
    body()
    return answer(service().cancel(verification_id))


@bp.get("/events")
def list_events() -> Response:
    """Lifecycle events of the last 3 days, oldest first; `after` continues from an event's id."""
    after = request.args.get("after")
    if after is not None and not EVENT_ID.fullmatch(after):
        raise InvalidRequest("`after` must be an event id (evt_…) from an earlier page.")
    raw_limit = request.args.get("limit", "50")
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise InvalidRequest("`limit` must be a whole number from 1 to 500.")
    events, more = service().store.list_events(after, int(raw_limit))
    shown = [event_view(e, delivery) for e, delivery in events]
    return json_response({"events": shown, "next": shown[-1]["id"] if more and shown else None})


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
