"""TOTP factors under /v1/factors: authenticator apps enrolled for an identity, then checked.

Same API keys, body rules and error shape as the rest of /v1 (webhooks/api.py). The creation's
answer is the only one that ever holds the secret, its provisioning URI and the QR code of it.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from telephony.errors import InvalidRequest
from telephony.factors import Factor
from webhooks import qr
from webhooks.api import authenticate, body, no_store
from webhooks.context import factors, service
from webhooks.jsonio import json_response
from webhooks.views import factor_view

bp = Blueprint("factors", __name__, url_prefix="/v1")
bp.before_request(authenticate)
bp.after_request(no_store)


def answer(f: Factor, status: int = 200, **extra: object) -> tuple[Response, int]:
    return json_response({**factor_view(f), **extra}, status), status


@bp.post("/factors")
def create_factor() -> tuple[Response, int]:
    data = body("identity", "friendly_name", "issuer", required=("identity",))
    identity, issuer = data["identity"], data.get("issuer", service().settings.otp_brand)
    f, secret = factors().enrol(identity, data.get("friendly_name", identity), issuer)
    uri = factors().uri(f, secret)
    response, status = answer(f, 201, secret=secret, uri=uri, qr_svg=qr.svg(uri))
    response.headers["Location"] = f"{request.script_root}/v1/factors/{f.id}"
    return response, status


@bp.get("/factors")
def list_factors() -> Response:
    identity = request.args.get("identity")
    if identity is None:
        raise InvalidRequest("Give the identity: GET /v1/factors?identity=…")
    return json_response({"factors": [factor_view(f) for f in factors().for_identity(identity)]})


@bp.get("/factors/<factor_id>")
def get_factor(factor_id: str) -> tuple[Response, int]:
    return answer(factors().get(factor_id))


@bp.post("/factors/<factor_id>/verify")
def verify_factor(factor_id: str) -> tuple[Response, int]:
    """The enrolment's confirmation: the first right code makes the factor verified."""
    f, valid = factors().verify(factor_id, body("code", required=("code",))["code"])
    return answer(f, valid=valid)


@bp.post("/factors/<factor_id>/check")
def check_factor(factor_id: str) -> tuple[Response, int]:
    """A sign-in: a code of a verified factor (409 `factor_unverified` before)."""
    f, valid = factors().check(factor_id, body("code", required=("code",))["code"])
    return answer(f, valid=valid)


@bp.delete("/factors/<factor_id>")
def delete_factor(factor_id: str) -> tuple[str, int]:
    factors().delete(factor_id)
    return "", 204
