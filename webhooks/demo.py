"""The demo page and the seed tutorials' form endpoints, plus the development outbox.

`/request-auth` and `/validate-auth` answer exactly as the SignalWire tutorial did, so code written
against it keeps working, but run through the same service, limits and store as /v1.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any

import phonenumbers
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from standardwebhooks import Webhook, WebhookVerificationError

from telephony.approval_wording import approval_words
from telephony.errors import InvalidPhone, InvalidRequest, MaxAttempts, NotFound, NotPending, ServiceError
from telephony.limits import Origin
from telephony.models import Channel
from telephony.providers import SPECS
from telephony.urls import answer_url, inbound_sms_url
from telephony.wording import words
from webhooks import qr
from webhooks.context import approvals, factors, service
from webhooks.simulate import play, spoken
from webhooks.views import approval_view, factor_view, verification_view

bp = Blueprint("demo", __name__, template_folder="templates")
dev = Blueprint("dev", __name__, url_prefix="/dev")


def text(message: str, status: int) -> tuple[Response, int]:
    """The tutorial's bare answer; a browser posting the form without JavaScript gets it as a page
    with a way back (same status), since a bare word is a dead end for a person."""
    if request.accept_mimetypes.best_match(["text/plain", "text/html"]) == "text/html":
        settings = service().settings
        page = render_template("answer.html", message=message, status=status, brand=settings.otp_brand,
                               number_hint=number_hint(settings.default_region))  # fmt: skip
        return Response(page), status
    return Response(message, mimetype="text/plain"), status


@bp.get("/")
def index() -> str:
    settings = service().settings
    return render_template(
        "demo.html", brand=settings.otp_brand, outbox=settings.development, code_length=settings.otp_length,
        number_hint=number_hint(settings.default_region), dev_receiver=settings.dev_receiver,
    )  # fmt: skip


def number_hint(region: str | None) -> str:
    """What the number fields take: E.164, and national numbers of OTP_DEFAULT_REGION when set."""
    if region is None:
        return "With + and country code (e.g. +14155550100)"
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL) if example else ""
    return f"With + and country code, or a {region} number" + (f" (e.g. {national})" if national else "")


@bp.post("/request-auth")
def request_auth() -> tuple[Response, int]:
    channel = request.form.get("channel", "sms")  # the tutorial's form has none: SMS
    try:
        service().start(request.form.get("number", ""), channel, origin=Origin(ip=request.remote_addr))
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


# JSON twins of the forms for the page's script: the same service and limits, no API key (the
# demo is on only in development or with DEMO_ENABLED=1).
@bp.post("/demo/verifications")
def demo_start() -> tuple[Response, int]:
    data = request.get_json(silent=True) or {}
    number, channel = str(data.get("number", "")), str(data.get("channel", "sms"))
    v = service().start(number, channel, origin=Origin(request.remote_addr))
    return jsonify(verification_view(v)), 201


@bp.get("/demo/verifications/<verification_id>")
def demo_status(verification_id: str) -> Response:
    return jsonify(verification_view(service().get(verification_id)))


@bp.post("/demo/verifications/<verification_id>/check")
def demo_check(verification_id: str) -> Response:
    data = request.get_json(silent=True) or {}
    v, valid = service().check(verification_id, str(data.get("code", "")))
    return jsonify({**verification_view(v), "valid": valid})


# "Approve a sign-in": an approval request, and (console provider) the person's answer played as a
# signed carrier webhook into this very app, so the whole path runs as it would with a phone.
@bp.post("/demo/approvals")
def demo_approval() -> tuple[Response, int]:
    data = request.get_json(silent=True) or {}
    message = str(data.get("message", "")) or "Sign in to the demo"
    a = approvals().start(str(data.get("number", "")), message, channel=str(data.get("channel", "sms")),
                          details={"From": "the demo page"}, origin=Origin(request.remote_addr))  # fmt: skip
    return jsonify(approval_view(a, approvals().codes.clock())), 201


@bp.get("/demo/approvals/<approval_id>")
def demo_approval_status(approval_id: str) -> Response:
    return jsonify(approval_view(approvals().get(approval_id), approvals().codes.clock()))


@bp.post("/demo/approvals/<approval_id>/respond")
def demo_respond(approval_id: str) -> Response:
    """Play the person's answer: `approve` true or false, by SMS reply or keypress as it was sent."""
    a = approvals().get(approval_id)
    if a.attempts[-1].provider != "console":
        raise NotFound("The demo answers for the console provider only: with a real one, answer on the phone.")
    approve = bool((request.get_json(silent=True) or {}).get("approve"))
    spec, base = SPECS["console"], service().settings.public_base_url
    caller = "+15550000000"
    if a.channel == Channel.SMS:
        text = f"{'YES' if approve else 'NO'} {a.reference}"
        sms = spec.inbound(text, sender=a.to, caller=caller)
        said = [f"(replies) {text}", *spoken(play("console", inbound_sms_url(base, "console"), sms))]
    else:
        assert spec.answer is not None
        fields = spec.answer("CA-demo", "in-progress", to=a.to, caller=caller)
        index = len(a.attempts) - 1
        answered = play("console", answer_url(base, "console", a.id, index), fields)
        prompt = ET.fromstring(answered).find(".//*[@action]")  # noqa: S314 - our own answer
        key = "1" if approve else "2"
        pressed = play("console", prompt.get("action", ""), {**fields, "Digits": key}) if prompt is not None else b""
        said = [*spoken(answered), f"(presses {key})", *(spoken(pressed) if pressed else [])]
    return jsonify({"heard": said, "approval": approval_view(approvals().get(approval_id), approvals().codes.clock())})

# The demo page's authenticator-app panel: /v1/factors' calls, without an API key (as above).
@bp.post("/demo/factors")
def demo_enrol() -> tuple[Response, int]:
    data = request.get_json(silent=True) or {}
    identity, name = str(data.get("identity", "")), str(data.get("name", "")).strip()
    f, secret = factors().enrol(identity, name or identity, service().settings.otp_brand)
    uri = factors().uri(f, secret)
    return jsonify({**factor_view(f), "secret": secret, "uri": uri, "qr_svg": qr.svg(uri)}), 201


@bp.post("/demo/factors/<factor_id>/<any(verify, check):kind>")
def demo_factor_code(factor_id: str, kind: str) -> Response:
    data = request.get_json(silent=True) or {}
    attempt = factors().verify if kind == "verify" else factors().check
    f, valid = attempt(factor_id, str(data.get("code", "")))
    return jsonify({**factor_view(f), "valid": valid})


@dev.get("/outbox")
def outbox() -> Response:
    """Every console send, newest first; calls carry the script the caller would hear."""
    sends = service().store.outbox_list()
    for entry in sends:
        if entry.get("channel") == "call" and "answer_url" in entry:
            entry["script"] = _script(entry["answer_url"])
    return jsonify({"sends": sends})


def _script(answer_url: str) -> list[str]:
    verification_id = answer_url.split("/voice/", 1)[1].split("?", 1)[0]
    if verification_id.startswith("ap_"):
        return _approval_script(verification_id, int(answer_url.rsplit("a=", 1)[1]))
    script = service().voice_preview(verification_id)
    markup = render_template("twiml/call.xml", script=script, text=words(script.locale, script.purpose), menu_url="/")
    root = ET.fromstring(markup)  # noqa: S314 - rendered here from our own template
    return [say.text for say in root.iter("Say") if say.text]


# --- the development receiver: where events go under `python app.py` without WEBHOOK_URL ----------

RECEIVED_KEPT = 50
_SHOWN_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


@dev.post("/webhook")
def receive_webhook() -> Response:
    """Receive a delivery as an application should: check the signature with `standardwebhooks`
    (400 when it fails, so the worker retries), then answer 2xx at once."""
    raw = request.get_data()
    headers = {name: request.headers.get(name, "") for name in _SHOWN_HEADERS}
    entry: dict[str, Any] = {"received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "headers": headers}
    try:
        entry["payload"] = Webhook(service().settings.webhook_secret).verify(raw, dict(request.headers))
        entry["signature"] = "valid"
    except WebhookVerificationError as exc:
        entry["signature"] = f"invalid: {exc}"
        entry["payload"] = _json_or_none(raw)
    _received().appendleft(entry)
    return Response(status=204 if entry["signature"] == "valid" else 400)


@dev.get("/webhook")
def received_webhooks() -> Response:
    """What /dev/webhook received, newest first; `resource` keeps one verification's events."""
    resource = request.args.get("resource")
    kept = [e for e in _received() if not resource or _resource_of(e) == resource]
    return jsonify({"deliveries": kept})


def _resource_of(entry: dict[str, Any]) -> Any:
    payload = entry.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    return data.get("id") if isinstance(data, dict) else None


def _received() -> deque[dict[str, Any]]:
    found: deque[dict[str, Any]] = current_app.extensions.setdefault("dev_webhooks", deque(maxlen=RECEIVED_KEPT))
    return found


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _approval_script(approval_id: str, index: int) -> list[str]:
    script = approvals().voice_script("console", approval_id, index)
    markup = render_template("twiml/approval.xml", script=script, text=words(script.locale),
                             said=approval_words(script.locale), menu_url="/")  # fmt: skip
    return [say.text for say in ET.fromstring(markup).iter("Say") if say.text]  # noqa: S314 - our own template
