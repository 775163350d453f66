"""Twilio Verify's TOTP factors and challenges under /v2/Services/{VA}/Entities/{Identity}: routes of
the /v2 blueprint (webhooks/v2.py imports this module), over the same `FactorService` as /v1.

Twilio's behaviour since its TOTP API left beta: a wrong `AuthPayload` is not an error. Verifying a
factor answers 200 with the factor still `unverified`; a challenge answers 201 or 200 `pending`. The
errors are for what no code can fix: too many wrong codes (60310 while verifying, 60308 for a
challenge, both 429 with `Retry-After`), a challenge of a factor never verified (60318), one past its
expiration date (60323), an `AuthPayload` that is no code at all when verifying (60311).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, request

from telephony import totp
from telephony.challenges import Challenge
from telephony.errors import ChallengeExpired, FactorUnverified, InvalidRequest, RateLimited
from telephony.factor_service import valid_code, valid_identity, valid_name
from telephony.factors import Factor
from telephony.services import FORM_FIELDS, Service, is_sid
from webhooks.context import factors
from webhooks.jsonio import json_response
from webhooks.v2 import V2Error, account_sid, base_url, bp, form, invalid, load_service, page
from webhooks.views import iso

ENTITY = "/Services/<sid>/Entities/<identity>"
ALGORITHMS = ("sha1", "sha256", "sha512")
STATUSES = ("pending", "expired", "approved", "denied")  # a challenge's, as Twilio lists them


def entity_sid(service_sid: str, identity: str) -> str:
    """A stable `YE…` SID for an identity of a service (Twilio's Entity, made on first use)."""
    return "YE" + hashlib.sha256(f"{service_sid}:{identity}".encode()).hexdigest()[:32]


def factor_sid(f: Factor) -> str:
    return "YF" + f.id[3:]  # the id's tag and random part are hex already


def factor_id(sid: str) -> str:
    return "tf_" + sid[2:] if is_sid(sid, "YF") else ""


def _entity_url(service_sid: str, identity: str) -> str:
    return f"{base_url()}/v2/Services/{service_sid}/Entities/{identity}"


def factor_view(f: Factor, binding: dict[str, str] | None = None) -> dict[str, Any]:
    """A factor as Twilio shows it; `binding` (the secret and its URI) only in the creation's answer."""
    sid = factor_sid(f)
    view: dict[str, Any] = {
        "sid": sid, "account_sid": account_sid(), "service_sid": f.service,
        "entity_sid": entity_sid(f.service, f.identity), "identity": f.identity,
        "date_created": iso(f.created_at), "date_updated": iso(f.verified_at or f.created_at),
        "friendly_name": f.friendly_name, "status": f.status, "factor_type": "totp",
        "config": {"alg": f.config.alg, "skew": f.config.skew, "code_length": f.config.digits,
                   "time_step": f.config.period},
        "metadata": None, "url": f"{_entity_url(f.service, f.identity)}/Factors/{sid}",
    }  # fmt: skip
    if binding is not None:
        view["binding"] = binding
    return view


def challenge_view(c: Challenge) -> dict[str, Any]:
    url = f"{_entity_url(c.service, c.identity)}/Challenges/{c.sid}"
    details = {"message": c.message, "date": iso(c.created_at), "fields": c.fields} if c.message or c.fields else None
    return {
        "sid": c.sid, "account_sid": account_sid(), "service_sid": c.service,
        "entity_sid": entity_sid(c.service, c.identity), "identity": c.identity,
        "factor_sid": "YF" + c.factor_sid[3:], "date_created": iso(c.created_at), "date_updated": iso(c.updated_at),
        "date_responded": None if c.responded_at is None else iso(c.responded_at),
        "expiration_date": iso(c.expires_at), "status": c.status_at(factors().clock()), "responded_reason": "none",
        "details": details, "hidden_details": c.hidden or None, "metadata": None, "factor_type": "totp",
        "url": url, "links": {"notifications": f"{url}/Notifications"},
    }  # fmt: skip


def _identity(identity: str) -> str:
    try:
        return valid_identity(identity)
    except InvalidRequest:
        raise invalid("Identity") from None


# --- factors ---------------------------------------------------------------------------------------


@bp.post(f"{ENTITY}/Factors")
def create_factor(sid: str, identity: str) -> tuple[Response, int]:
    svc = load_service(sid)
    data = form()
    if data.get("FactorType") != "totp":
        raise invalid("FactorType")  # push and passkeys need Twilio's device SDKs
    secret = totp.normalized(data["Binding.Secret"]) if "Binding.Secret" in data else totp.new_secret()
    if secret is None:
        raise invalid("Binding.Secret")
    try:
        name = valid_name(data.get("FriendlyName"), "FriendlyName")
    except InvalidRequest:
        raise invalid("FriendlyName") from None
    f, secret = factors().enrol(_identity(identity), name, svc.totp_issuer or svc.friendly_name,
                                config=_config(svc, data), secret=secret, scope=sid)  # fmt: skip
    binding = {"secret": secret, "uri": factors().uri(f, secret)}
    return json_response(factor_view(f, binding), 201), 201


def _config(svc: Service, data: dict[str, str]) -> totp.Config:
    """`Config.*` over the service's `Totp.*` settings, with the bounds those have (services.py)."""
    alg = data.get("Config.Alg", "sha1")
    if alg not in ALGORITHMS:
        raise invalid("Config.Alg")
    chosen = {"time_step": svc.totp_time_step, "code_length": svc.totp_code_length, "skew": svc.totp_skew}
    for name in ("TimeStep", "CodeLength", "Skew"):
        if f"Config.{name}" in data:
            field, parse = FORM_FIELDS[f"Totp.{name}"]
            try:
                chosen[field.removeprefix("totp_")] = parse(f"Config.{name}", data[f"Config.{name}"])
            except InvalidRequest:
                raise invalid(f"Config.{name}") from None
    return totp.Config(alg, chosen["code_length"], chosen["time_step"], chosen["skew"])


@bp.get(f"{ENTITY}/Factors")
def list_factors(sid: str, identity: str) -> Response:
    load_service(sid)
    found = factors().for_identity(_identity(identity), sid)
    return page("factors", [factor_view(f) for f in found], f"/v2/Services/{sid}/Entities/{identity}/Factors")


def _factor(sid: str, identity: str, yf: str) -> Factor:
    load_service(sid)
    return factors().get(factor_id(yf), sid, _identity(identity))


@bp.get(f"{ENTITY}/Factors/<yf>")
def fetch_factor(sid: str, identity: str, yf: str) -> Response:
    return json_response(factor_view(_factor(sid, identity, yf)))


@bp.post(f"{ENTITY}/Factors/<yf>")
def update_factor(sid: str, identity: str, yf: str) -> Response:
    """`AuthPayload`: a code from the app. The first right one verifies the factor; a wrong one
    leaves it as it was (200, as Twilio answers since its TOTP API left beta)."""
    f = _factor(sid, identity, yf)
    payload = form().get("AuthPayload")
    if payload is None:
        raise invalid("AuthPayload")
    try:
        code = valid_code(payload)
    except InvalidRequest:
        raise V2Error(60311, 403, "Factor verification failed: AuthPayload is not a code") from None
    try:
        verified, _ = factors().verify(f.id, code, sid, identity)
    except RateLimited as exc:
        raise V2Error(60310, 429, "Max verification attempts reached", exc.retry_after) from None
    return json_response(factor_view(verified))


@bp.delete(f"{ENTITY}/Factors/<yf>")
def delete_factor(sid: str, identity: str, yf: str) -> tuple[str, int]:
    factors().delete(_factor(sid, identity, yf).id, sid, identity)
    return "", 204


# --- challenges ------------------------------------------------------------------------------------


@bp.post(f"{ENTITY}/Challenges")
def create_challenge(sid: str, identity: str) -> tuple[Response, int]:
    load_service(sid)
    data = form()
    f = factors().get(factor_id(data.get("FactorSid", "")), sid, _identity(identity)) if "FactorSid" in data else None
    if f is None:
        raise invalid("FactorSid")
    created = _answered(lambda: factors().challenge(
        f.id, sid, identity, _payload(data), expires_at=_expiration(data.get("ExpirationDate")),
        message=_message(data.get("Details.Message")), fields=_fields(request.form.getlist("Details.Fields")),
        hidden=_hidden(data.get("HiddenDetails")),
    ))  # fmt: skip
    return json_response(challenge_view(created), 201), 201


@bp.get(f"{ENTITY}/Challenges")
def list_challenges(sid: str, identity: str) -> Response:
    load_service(sid)
    args = request.args
    wanted_factor = factor_id(args["FactorSid"]) if "FactorSid" in args else None
    for name, ok in (("FactorSid", wanted_factor != ""), ("Status", args.get("Status", "pending") in STATUSES),
                     ("Order", args.get("Order", "asc") in ("asc", "desc"))):  # fmt: skip
        if not ok:
            raise invalid(name)
    found = [challenge_view(c) for c in factors().list_challenges(sid, _identity(identity), wanted_factor)]
    if "Status" in args:
        found = [c for c in found if c["status"] == args["Status"]]
    if args.get("Order") == "desc":
        found.reverse()
    return page("challenges", found, f"/v2/Services/{sid}/Entities/{identity}/Challenges")


@bp.get(f"{ENTITY}/Challenges/<yc>")
def fetch_challenge(sid: str, identity: str, yc: str) -> Response:
    load_service(sid)
    return json_response(challenge_view(factors().get_challenge(yc, sid, _identity(identity))))


@bp.post(f"{ENTITY}/Challenges/<yc>")
def update_challenge(sid: str, identity: str, yc: str) -> Response:
    """`AuthPayload`: the code that approves a pending challenge (a wrong one leaves it pending)."""
    load_service(sid)
    code = _payload(form())
    if code is None:
        raise invalid("AuthPayload")
    answered = _answered(lambda: factors().answer(yc, sid, _identity(identity), code))
    return json_response(challenge_view(answered))


def _answered(attempt: Callable[[], Challenge]) -> Challenge:
    """Run a challenge's code attempt, its refusals in Twilio's words."""
    try:
        return attempt()
    except RateLimited as exc:
        raise V2Error(60308, 429, "Max challenge attempts reached for this factor", exc.retry_after) from None
    except FactorUnverified:
        raise V2Error(60318, 403, "Factor is unverified") from None
    except ChallengeExpired:
        raise V2Error(60323, 403, "Challenge expired") from None


def _payload(data: dict[str, str]) -> str | None:
    if "AuthPayload" not in data:
        return None
    payload = data["AuthPayload"]
    if not (payload.isascii() and payload.isdigit() and 3 <= len(payload) <= 8):
        raise invalid("AuthPayload")
    return payload


def _expiration(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise invalid("ExpirationDate") from None
    if when.tzinfo is None:
        raise invalid("ExpirationDate")
    now = factors().clock()
    if not now < when.timestamp() <= now + 3600:
        raise invalid("ExpirationDate")
    return when.timestamp()


def _message(value: str | None) -> str:
    if value is not None and (len(value) > 256 or not value.isprintable()):
        raise invalid("Details.Message")
    return value or ""


def _fields(values: list[str]) -> list[dict[str, str]]:
    """`Details.Fields`, repeated: each a JSON object {label, value} (at most 20)."""
    fields = []
    for text in values:
        try:
            item = json.loads(text)
        except ValueError:
            raise invalid("Details.Fields") from None
        if not isinstance(item, dict) or set(item) != {"label", "value"} or len(values) > 20:
            raise invalid("Details.Fields")
        label, value = item["label"], item["value"]
        if not (isinstance(label, str) and isinstance(value, str) and 0 < len(label) <= 36 and len(value) <= 128):
            raise invalid("Details.Fields")
        fields.append({"label": label, "value": value})
    return fields


def _hidden(value: str | None) -> dict[str, str]:
    """`HiddenDetails`: a JSON object of strings, at most 1024 characters, never shown to the user."""
    if value is None:
        return {}
    try:
        hidden = json.loads(value)
    except ValueError:
        raise invalid("HiddenDetails") from None
    if len(value) > 1024 or not isinstance(hidden, dict) or not all(isinstance(v, str) for v in hidden.values()):
        raise invalid("HiddenDetails")
    return hidden
