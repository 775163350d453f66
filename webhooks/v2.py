"""The Twilio Verify v2-compatible API under /v2: form in, Twilio's JSON out, over the same domain
calls as /v1 (`VerificationService`), so every rule (limits, opt-outs, destinations, the fallback
state machine, the code's safety) holds behind both.

An application using the official twilio client switches here by setting the Verify domain's
base URL (`client.verify.base_url` in Python, `client.verify.baseUrl` in Node).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from telephony import services
from telephony.errors import (
    CountryNotAllowed,
    DestinationNotAllowed,
    InvalidPhone,
    InvalidRequest,
    LandlineRefused,
    MaxAttempts,
    NotFound,
    NotPending,
    OptedOut,
    ProviderFailed,
    PumpingBlocked,
    RateLimited,
    SendsExhausted,
    ServiceError,
    StoreUnavailable,
)
from telephony.limits import Origin, client_address
from telephony.models import Status, Verification
from telephony.outbound import check_destination
from telephony.service import StartOptions, parse_code
from telephony.services import Service
from telephony.urls import safe_origin
from telephony.wording import LOCALES
from webhooks.context import service as domain
from webhooks.jsonio import json_response
from webhooks.views import iso

bp = Blueprint("v2", __name__, url_prefix="/v2")

MORE_INFO = "https://www.twilio.com/docs/errors/{}"
APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")  # fullmatch: no trailing newline slips through `$`
UNIQUE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+")
NOT_OFFERED = ("email", "whatsapp", "sna")
EVENT_TYPES = frozenset({
    "*", "factor.created", "factor.deleted", "factor.verified", "challenge.approved", "challenge.denied",
    "challenge.expired", "verification.approved", "verification.canceled", "verification.failed",
    "verification.expired", "verification.max_attempts_reached",
})  # fmt: skip


class V2Error(Exception):
    """A refusal in Twilio's words: its error code and HTTP status."""

    def __init__(self, code: int, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.retry_after = code, status, message, retry_after


# The domain's refusals -> Twilio's codes. Order matters: subclasses first.
_CODES: list[tuple[type[ServiceError], int, int]] = [
    (SendsExhausted, 60203, 429),
    (PumpingBlocked, 60410, 403),
    (RateLimited, 20429, 429),
    (MaxAttempts, 60202, 429),
    (NotFound, 20404, 404),
    (NotPending, 20404, 404),
    (LandlineRefused, 60205, 400),
    (InvalidPhone, 60200, 400),
    (InvalidRequest, 60200, 400),
    (OptedOut, 21610, 400),
    (CountryNotAllowed, 60605, 403),
    (DestinationNotAllowed, 60605, 403),
    (ProviderFailed, 20500, 502),
    (StoreUnavailable, 20503, 503),
]


def error(code: int, status: int, message: str, retry_after: int | None = None) -> Response:
    """Twilio's error body: exactly these four keys (with `type` and `title` the client would read
    it as RFC 9457 and raise another exception class)."""
    body = {"code": code, "message": message, "more_info": MORE_INFO.format(code), "status": status}
    response = json_response(body, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, retry_after))
    return response


@bp.errorhandler(V2Error)
def _v2_error(exc: V2Error) -> Response:
    return error(exc.code, exc.status, exc.message, exc.retry_after)


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    for kind, code, status in _CODES:
        if isinstance(exc, kind):
            return error(code, status, exc.message, exc.retry_after)
    return error(20500, exc.status, exc.message, exc.retry_after)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """Also for routing errors under /v2 (an unknown path, a wrong method), which Flask hands to the
    app's handler: webhooks/errors.py passes them here."""
    status = exc.code or 500
    code = {401: 20003, 404: 20404, 405: 20004, 413: 20413, 415: 20415}.get(status, 60200)
    response = error(code, status, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name == "Allow":  # a 405 names the methods that would work (RFC 9110)
            response.headers[name] = value
    return response


# --- authentication ---------------------------------------------------------------------------


@bp.before_request
def authenticate() -> None:
    """HTTP Basic: ACCOUNT_SID and one of API_KEYS (any password in development without keys)."""
    settings = domain().settings
    user, password = _basic(request.headers.get("Authorization", ""))
    keys = settings.api_keys
    matched = not keys and settings.development
    for key in keys:  # every key compared: the time taken says nothing about which one came close
        matched |= hmac.compare_digest(password.encode(), key.encode())
    if not (hmac.compare_digest(user.encode(), settings.account_sid.encode()) and matched):
        raise V2Error(20003, 401, "Authentication Error - invalid username or password")
    g.api_key = password  # counted against OTP_LIMIT_API_KEY, as /v1's bearer key is


def _basic(header: str) -> tuple[str, str]:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


# --- helpers ------------------------------------------------------------------------------------


def form() -> dict[str, str]:
    """The form's fields (the first value of each); lists are read with `request.form.getlist`."""
    return {k: v for k, v in request.form.items()}


def invalid(name: str) -> V2Error:
    return V2Error(60200, 400, f"Invalid parameter: {name}")


def base_url() -> str:
    return domain().settings.public_base_url.rstrip("/")


def account_sid() -> str:
    return domain().settings.account_sid


def page(key: str, items: list[dict[str, Any]], path: str) -> Response:
    """One page holding every item, in Twilio's list shape (the client reads `meta.key`)."""
    size = len(items)
    url = f"{base_url()}{path}?PageSize={max(size, 50)}&Page=0"
    meta = {"page": 0, "page_size": max(size, 50), "first_page_url": url, "previous_page_url": None,
            "next_page_url": None, "url": url, "key": key}  # fmt: skip
    return json_response({key: items, "meta": meta})


def load_service(sid: str) -> Service:
    found = services.get(domain().store, sid)
    if found is None:
        raise V2Error(20404, 404, f"The requested resource /Services/{sid} was not found")
    return found


# --- services -----------------------------------------------------------------------------------


def service_view(s: Service) -> dict[str, Any]:
    url = f"{base_url()}/v2/Services/{s.sid}"
    return {
        "sid": s.sid, "account_sid": account_sid(), "friendly_name": s.friendly_name, "code_length": s.code_length,
        "lookup_enabled": False, "psd2_enabled": s.psd2_enabled, "skip_sms_to_landlines": s.skip_sms_to_landlines,
        "dtmf_input_required": s.dtmf_input_required, "tts_name": None,
        "do_not_share_warning_enabled": s.do_not_share_warning_enabled, "custom_code_enabled": s.custom_code_enabled,
        "push": None,
        "totp": {"issuer": s.totp_issuer, "time_step": s.totp_time_step, "code_length": s.totp_code_length,
                 "skew": s.totp_skew},
        "default_template_sid": None, "verify_event_subscription_enabled": False,
        "date_created": iso(s.created_at), "date_updated": iso(s.updated_at), "url": url,
        "links": {name: f"{url}/{path}" for name, path in (
            ("verification_checks", "VerificationCheck"), ("verifications", "Verifications"),
            ("rate_limits", "RateLimits"), ("entities", "Entities"), ("webhooks", "Webhooks"))},
    }  # fmt: skip


@bp.post("/Services")
def create_service() -> tuple[Response, int]:
    svc = domain()
    created = services.create(form(), services.default_service(svc.settings), svc.clock())
    services.put(svc.store, created)
    return json_response(service_view(created), 201), 201


@bp.get("/Services")
def list_services() -> Response:
    return page("services", [service_view(s) for s in services.every(domain().store)], "/v2/Services")


@bp.get("/Services/<sid>")
def fetch_service(sid: str) -> Response:
    return json_response(service_view(load_service(sid)))


@bp.post("/Services/<sid>")
def update_service(sid: str) -> Response:
    updated = services.update(load_service(sid), form(), domain().clock())
    services.put(domain().store, updated)
    return json_response(service_view(updated))


@bp.delete("/Services/<sid>")
def delete_service(sid: str) -> tuple[str, int]:
    """The service and its rate limits, buckets and webhooks. Its pending verifications stay
    checkable until they expire: a check reads no service, so that it stays one round trip."""
    load_service(sid)
    store = domain().store
    for kind in ("bucket", "ratelimit", "webhook"):
        for doc in _docs(kind, sid):
            store.doc_delete(kind, doc["sid"])
    services.remove(store, sid)
    return "", 204


# --- verifications ------------------------------------------------------------------------------


def verification_view(v: Verification, service_sid: str, *, check: bool = False) -> dict[str, Any]:
    sid = services.verification_sid(v.id) or v.id
    view: dict[str, Any] = {
        "sid": sid, "service_sid": service_sid, "account_sid": account_sid(), "to": v.to,
        "channel": str(v.channel), "status": str(v.status), "valid": v.status == Status.APPROVED,
        "amount": v.amount or None, "payee": v.payee or None,
        "date_created": iso(v.created_at), "date_updated": iso(max([v.created_at, *(a.at for a in v.attempts)])),
    }  # fmt: skip
    if check:
        view["sna_attempts_error_codes"] = []
        return view
    view["lookup"] = {}
    view["send_code_attempts"] = [
        {"attempt_sid": services.attempt_sid(v.id, i), "channel": str(a.channel), "time": iso(a.at)}
        for i, a in enumerate(v.attempts)
    ]
    view["sna"] = None
    view["url"] = f"{base_url()}/v2/Services/{service_sid}/Verifications/{sid}"
    return view


def _rate_limit_counters(svc_sid: str, raw: str) -> tuple[tuple[str, str, int, int], ...]:
    """`RateLimits` ({"unique_name": "value"}) -> (rate limit sid, value, max, interval) per bucket."""
    try:
        asked = json.loads(raw)
    except ValueError:
        raise invalid("RateLimits") from None
    if not isinstance(asked, dict) or any(isinstance(v, bool) or not isinstance(v, str | int) for v in asked.values()):
        raise invalid("RateLimits")
    limits = {d["unique_name"]: d for d in _docs("ratelimit", svc_sid)}
    buckets = _docs("bucket", svc_sid)
    counters = []
    for name, value in asked.items():
        limit = limits.get(name)
        if limit is None:
            raise invalid("RateLimits")
        for b in buckets:
            if b["rate_limit_sid"] == limit["sid"]:
                counters.append((limit["sid"], str(value), int(b["max"]), int(b["interval"])))
    return tuple(counters)


@bp.post("/Services/<sid>/Verifications")
def create_verification(sid: str) -> tuple[Response, int]:
    svc = load_service(sid)
    data = form()
    channel = data.get("Channel", "")
    if channel in NOT_OFFERED:
        raise V2Error(60223, 400, f"Delivery channel disabled: {channel.upper()}")
    if channel not in ("sms", "call", "auto"):
        raise invalid("Channel")
    if "To" not in data:
        raise invalid("To")
    options = StartOptions(
        service=svc,
        custom_code=_custom_code(svc, data.get("CustomCode")),
        amount=_psd2(svc, data, "Amount"),
        payee=_psd2(svc, data, "Payee"),
        brand=_brand(data.get("CustomFriendlyName")),
        app_hash=_app_hash(data.get("AppHash")),
        rate_limits=_rate_limit_counters(sid, data["RateLimits"]) if "RateLimits" in data else (),
    )
    locale = _locale(data.get("Locale"))
    device_ip = _ip(data["DeviceIp"]) if data.get("DeviceIp") else None
    origin = Origin(ip=device_ip, api_key=g.get("api_key") or None)
    v, _ = domain().start_or_resend(data["To"], channel, locale, origin, options=options)
    return json_response(verification_view(v, sid), 201), 201


def _custom_code(svc: Service, code: str | None) -> str | None:
    if code is None:
        return None
    if not svc.custom_code_enabled:
        raise invalid("CustomCode")
    try:
        return parse_code(code)  # what a check accepts: 4 to 10 digits
    except InvalidRequest:
        raise invalid("CustomCode") from None


def _psd2(svc: Service, data: dict[str, str], name: str) -> str:
    value = data.get(name, "")
    if value and (not svc.psd2_enabled or len(value) > 60 or not value.isprintable()):
        raise invalid(name)
    return value


def _brand(name: str | None) -> str:
    if name is None:
        return ""
    name = name.strip()
    if not 0 < len(name) <= services.BRAND_MAX or not name.isprintable():
        raise invalid("CustomFriendlyName")
    return name


def _app_hash(value: str | None) -> str:
    if value is None:
        return ""
    if not APP_HASH.fullmatch(value):
        raise invalid("AppHash")
    return value


def _locale(value: str | None) -> str | None:
    if value is None:
        return None
    language = value.lower().split("-")[0]
    if language not in LOCALES:
        raise invalid("Locale")
    return language


def _ip(value: str) -> str:
    try:
        return client_address(value)
    except ValueError:
        raise invalid("DeviceIp") from None


def _find(sid: str, ref: str) -> Verification:
    """A verification of service `sid` by its VE SID or its number (the pending one)."""
    svc = domain()
    if ref.startswith("VE"):
        vid = services.verification_id(ref)
        v = svc.store.get(vid) if vid else None
    else:
        try:
            number = svc.parse_number(ref)
        except InvalidPhone:
            raise invalid("To") from None
        found = svc.store.latest_for(number, scope=sid)
        v = svc.store.get(found) if found else None
    if v is None or v.service != sid or not v.pending:
        raise V2Error(20404, 404, f"The requested resource /Services/{sid}/Verifications/{ref} was not found")
    return v


@bp.get("/Services/<sid>/Verifications/<ref>")
def fetch_verification(sid: str, ref: str) -> Response:
    load_service(sid)
    return json_response(verification_view(_find(sid, ref), sid))


@bp.post("/Services/<sid>/Verifications/<ref>")
def update_verification(sid: str, ref: str) -> Response:
    wanted = form().get("Status")
    if wanted not in ("canceled", "approved"):
        raise invalid("Status")
    load_service(sid)
    v = _find(sid, ref)
    changed = domain().cancel(v.id) if wanted == "canceled" else domain().approve(v.id)
    return json_response(verification_view(changed, sid))


@bp.post("/Services/<sid>/VerificationCheck")
def check_verification(sid: str) -> Response:
    data = form()
    code, to, ref = data.get("Code"), data.get("To"), data.get("VerificationSid")
    if not code:
        raise invalid("Code")
    if not to and not ref:
        raise V2Error(60200, 400, "Either a 'To' number or 'VerificationSid' must be specified")
    binding = (data.get("Amount", ""), data.get("Payee", ""))
    svc = domain()
    try:
        if ref:
            vid = services.verification_id(ref)
            if vid is None:
                raise NotFound("No such verification.")
            v, _ = svc.check(vid, code, scope=sid, binding=binding)
        else:
            v, _ = svc.check_by_number(str(to), code, scope=sid, binding=binding)
    except (NotFound, NotPending, MaxAttempts):
        # Twilio "soft-deletes" a verification once approved, canceled, expired or out of checks.
        raise V2Error(20404, 404, f"The requested resource /Services/{sid}/VerificationCheck was not found") from None
    if v.status == Status.MAX_ATTEMPTS:
        raise V2Error(60202, 429, "Max check attempts reached")
    return json_response(verification_view(v, sid, check=True))


# --- rate limits and buckets ----------------------------------------------------------------------


def _doc(kind: str, sid: str, parent: str, prefix: str) -> dict[str, Any]:
    found = domain().store.doc_get(kind, sid) if services.is_sid(sid, prefix) else None
    doc = json.loads(found) if found else None
    if doc is None or doc.get("parent") != parent:
        raise V2Error(20404, 404, f"The requested resource {request.path.removeprefix('/v2')} was not found")
    return doc


def _save(kind: str, doc: dict[str, Any]) -> None:
    domain().store.doc_put(kind, doc["sid"], json.dumps(doc), parent=doc["service_sid"])


def _docs(kind: str, service_sid: str) -> list[dict[str, Any]]:
    """A service's documents of `kind`, oldest first."""
    return sorted((json.loads(t) for t in domain().store.doc_list(kind, service_sid)), key=lambda d: d["created"])


def doc_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as Twilio shows it: our bookkeeping fields out, the account, dates and URL in."""
    view = {k: v for k, v in doc.items() if k not in ("parent", "path", "created", "updated")}
    return {**view, "account_sid": account_sid(), "date_created": iso(doc["created"]),
            "date_updated": iso(doc["updated"]), "url": f"{base_url()}{doc['path']}"}  # fmt: skip


def _rate_limit_fields(data: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
    if "UniqueName" in data:
        if not UNIQUE_NAME.fullmatch(data["UniqueName"]):
            raise invalid("UniqueName")
        doc["unique_name"] = data["UniqueName"]
    if "Description" in data:
        if len(data["Description"]) > 256:
            raise invalid("Description")
        doc["description"] = data["Description"]
    return doc


@bp.post("/Services/<sid>/RateLimits")
def create_rate_limit(sid: str) -> tuple[Response, int]:
    load_service(sid)
    data = form()
    if "UniqueName" not in data:
        raise invalid("UniqueName")
    if any(d["unique_name"] == data["UniqueName"] for d in _docs("ratelimit", sid)):
        raise V2Error(60208, 400, "Rate limit with that UniqueName already exists")  # Twilio's code for it
    rk, now = services.new_sid("RK"), domain().clock()
    doc = _rate_limit_fields(data, {"sid": rk, "service_sid": sid, "parent": sid, "unique_name": "",
                                    "description": "", "created": now, "updated": now,
                                    "path": f"/v2/Services/{sid}/RateLimits/{rk}"})  # fmt: skip
    _save("ratelimit", doc)
    return json_response(_rate_limit_view(doc), 201), 201


def _rate_limit_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = doc_view(doc)
    view["links"] = {"buckets": f"{view['url']}/Buckets"}
    return view


@bp.get("/Services/<sid>/RateLimits")
def list_rate_limits(sid: str) -> Response:
    load_service(sid)
    return page("rate_limits", [_rate_limit_view(d) for d in _docs("ratelimit", sid)], f"/v2/Services/{sid}/RateLimits")


@bp.get("/Services/<sid>/RateLimits/<rk>")
def fetch_rate_limit(sid: str, rk: str) -> Response:
    return json_response(_rate_limit_view(_doc("ratelimit", rk, sid, "RK")))


@bp.post("/Services/<sid>/RateLimits/<rk>")
def update_rate_limit(sid: str, rk: str) -> Response:
    doc = _doc("ratelimit", rk, sid, "RK")
    data = form()
    data.pop("UniqueName", None)  # Twilio's update takes the description only
    doc = _rate_limit_fields(data, doc)
    doc["updated"] = domain().clock()
    _save("ratelimit", doc)
    return json_response(_rate_limit_view(doc))


@bp.delete("/Services/<sid>/RateLimits/<rk>")
def delete_rate_limit(sid: str, rk: str) -> tuple[str, int]:
    _doc("ratelimit", rk, sid, "RK")
    store = domain().store
    for bucket in _docs("bucket", sid):
        if bucket["rate_limit_sid"] == rk:
            store.doc_delete("bucket", bucket["sid"])
    store.doc_delete("ratelimit", rk)
    return "", 204


def _bucket_fields(data: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
    for name, field, low, high in (("Max", "max", 1, 1_000_000), ("Interval", "interval", 1, 86_400)):
        if name in data:
            value = data[name]
            if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
                raise invalid(name)
            doc[field] = int(value)
    return doc


@bp.post("/Services/<sid>/RateLimits/<rk>/Buckets")
def create_bucket(sid: str, rk: str) -> tuple[Response, int]:
    _doc("ratelimit", rk, sid, "RK")
    data = form()
    for name in ("Max", "Interval"):
        if name not in data:
            raise invalid(name)
    bl, now = services.new_sid("BL"), domain().clock()
    doc = _bucket_fields(data, {"sid": bl, "rate_limit_sid": rk, "service_sid": sid, "parent": sid, "max": 0,
                                "interval": 0, "created": now, "updated": now,
                                "path": f"/v2/Services/{sid}/RateLimits/{rk}/Buckets/{bl}"})  # fmt: skip
    _save("bucket", doc)
    return json_response(doc_view(doc), 201), 201


@bp.get("/Services/<sid>/RateLimits/<rk>/Buckets")
def list_buckets(sid: str, rk: str) -> Response:
    _doc("ratelimit", rk, sid, "RK")
    mine = [d for d in _docs("bucket", sid) if d["rate_limit_sid"] == rk]
    return page("buckets", [doc_view(d) for d in mine], f"/v2/Services/{sid}/RateLimits/{rk}/Buckets")


def _bucket(sid: str, rk: str, bl: str) -> dict[str, Any]:
    doc = _doc("bucket", bl, sid, "BL")
    if doc["rate_limit_sid"] != rk:
        raise V2Error(20404, 404, f"The requested resource {request.path.removeprefix('/v2')} was not found")
    return doc


@bp.get("/Services/<sid>/RateLimits/<rk>/Buckets/<bl>")
def fetch_bucket(sid: str, rk: str, bl: str) -> Response:
    return json_response(doc_view(_bucket(sid, rk, bl)))


@bp.post("/Services/<sid>/RateLimits/<rk>/Buckets/<bl>")
def update_bucket(sid: str, rk: str, bl: str) -> Response:
    doc = _bucket_fields(form(), _bucket(sid, rk, bl))
    doc["updated"] = domain().clock()
    _save("bucket", doc)
    return json_response(doc_view(doc))


@bp.delete("/Services/<sid>/RateLimits/<rk>/Buckets/<bl>")
def delete_bucket(sid: str, rk: str, bl: str) -> tuple[str, int]:
    _bucket(sid, rk, bl)
    domain().store.doc_delete("bucket", bl)
    return "", 204


# --- webhooks (each gets its service's events: telephony/delivery.py) -----------------------------


def _webhook_fields(data: dict[str, str], doc: dict[str, Any], events: list[str] | None) -> dict[str, Any]:
    if "FriendlyName" in data:
        name = data["FriendlyName"].strip()
        if not 0 < len(name) <= 64 or not name.isprintable():
            raise invalid("FriendlyName")
        doc["friendly_name"] = name
    if events:
        if not set(events) <= EVENT_TYPES:
            raise invalid("EventTypes")
        doc["event_types"] = list(dict.fromkeys(events))
    if "WebhookUrl" in data:
        doc["webhook_url"] = _webhook_url(data["WebhookUrl"])
    if "Status" in data:
        if data["Status"] not in ("enabled", "disabled"):
            raise invalid("Status")
        doc["status"] = data["Status"]
    if "Version" in data:
        if data["Version"] not in ("v1", "v2"):
            raise invalid("Version")
        doc["version"] = data["Version"]
    return doc


def _webhook_url(url: str) -> str:
    """https (http to this machine in development only), a host name a resolver can take, a port
    that is one; in production (unless WEBHOOK_ALLOW_PRIVATE=1) public addresses only, checked now
    and again at each delivery's connection."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number or out of range
    except ValueError:
        raise invalid("WebhookUrl") from None
    host = parts.hostname or ""
    if len(url) > 2048 or not url.isascii() or not url.isprintable() or " " in url or not HOST.fullmatch(host):
        raise invalid("WebhookUrl")
    if parts.scheme not in ("https", "http") or port == 0:
        raise invalid("WebhookUrl")
    settings = domain().settings
    if parts.scheme == "http" and not (safe_origin(url) and settings.development):
        raise invalid("WebhookUrl")
    if not settings.webhook_private_allowed:
        try:
            check_destination(url, allow_private=False)
        except ValueError:  # a private or unresolvable address: no SSRF into the private network
            raise invalid("WebhookUrl") from None
    return url


@bp.post("/Services/<sid>/Webhooks")
def create_webhook(sid: str) -> tuple[Response, int]:
    load_service(sid)
    data = form()
    events = request.form.getlist("EventTypes")
    for name, present in (("FriendlyName", "FriendlyName" in data), ("EventTypes", bool(events)),
                          ("WebhookUrl", "WebhookUrl" in data)):  # fmt: skip
        if not present:
            raise invalid(name)
    yw, now = services.new_sid("YW"), domain().clock()
    doc = _webhook_fields(data, {"sid": yw, "service_sid": sid, "parent": sid, "friendly_name": "", "event_types": [],
                                 "status": "enabled", "version": "v2", "webhook_method": "POST", "webhook_url": "",
                                 "created": now, "updated": now, "path": f"/v2/Services/{sid}/Webhooks/{yw}"},
                          events)  # fmt: skip
    _save("webhook", doc)
    return json_response(doc_view(doc), 201), 201


@bp.get("/Services/<sid>/Webhooks")
def list_webhooks(sid: str) -> Response:
    load_service(sid)
    return page("webhooks", [doc_view(d) for d in _docs("webhook", sid)], f"/v2/Services/{sid}/Webhooks")


@bp.get("/Services/<sid>/Webhooks/<yw>")
def fetch_webhook(sid: str, yw: str) -> Response:
    return json_response(doc_view(_doc("webhook", yw, sid, "YW")))


@bp.post("/Services/<sid>/Webhooks/<yw>")
def update_webhook(sid: str, yw: str) -> Response:
    doc = _webhook_fields(form(), _doc("webhook", yw, sid, "YW"), request.form.getlist("EventTypes"))
    doc["updated"] = domain().clock()
    _save("webhook", doc)
    return json_response(doc_view(doc))


@bp.delete("/Services/<sid>/Webhooks/<yw>")
def delete_webhook(sid: str, yw: str) -> tuple[str, int]:
    _doc("webhook", yw, sid, "YW")
    domain().store.doc_delete("webhook", yw)
    return "", 204


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response



# TOTP factors and challenges (Entities) are routes of this blueprint too, in a module of their own.
from webhooks import v2_factors  # noqa: E402, F401
