"""Carrier webhooks: answer URLs, keypad menus, delivery receipts, call status, inbound SMS.

Order for each: find the provider, check its signature against the public URL (403 and nothing
changed when it fails), parse, hand to the service, answer quickly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, abort, current_app, request

from telephony.approval_service import MENU_REPEATS, ApprovalScript
from telephony.approval_wording import approval_reply, approval_words
from telephony.events import event
from telephony.inbound import handle_inbound
from telephony.models import Channel
from telephony.providers import FormData, Provider, StatusReport, WebhookRequest
from telephony.providers.base import WebhookKind
from telephony.service import VOICE_REPEATS, VoiceScript
from telephony.urls import menu_url
from telephony.wording import words
from webhooks.context import approvals, notices, service

bp = Blueprint("carrier", __name__, url_prefix="/webhooks/<provider>")
T = TypeVar("T")


def signed_request(provider_name: str, kind: WebhookKind) -> tuple[Provider, WebhookRequest]:
    """The provider and the request as it signed it; aborts 404 (unknown) or 403 (bad signature).

    The signed URL is PUBLIC_BASE_URL + path + the raw query, and nothing else: a host named by
    the request (Host, X-Forwarded-Host, even behind TRUST_PROXY) would accept signatures made
    for any other origin the carrier account calls, a staging host's included.
    """
    provider = service().providers.get(provider_name)
    if provider is None:
        abort(404)
    query = request.query_string.decode("latin-1")
    url = service().settings.public_base_url + request.path + (f"?{query}" if query else "")
    body, form = _posted()
    headers = dict(request.headers)
    webhook = WebhookRequest(url, request.method, headers, form, body, kind)
    if provider.verify(webhook):
        return provider, webhook
    signature_headers = sorted(h for h in headers if "signature" in h.lower()) or ["none"]
    event("webhook.signature_invalid", level=logging.WARNING, provider=provider_name, urls=_redacted(url),
          signature_headers=",".join(signature_headers))  # fmt: skip
    abort(403)


def _posted() -> tuple[bytes, FormData]:
    """The POSTed body and its fields, as Werkzeug parses them (so signatures check over the same
    values the handlers read)."""
    if request.method != "POST":
        return b"", FormData()
    body = request.get_data(cache=True)  # read first and kept: the form is then parsed from it
    return body, FormData(request.form.lists())


def _redacted(url: str) -> str:
    """The URL for a log line: Flowroute's `key` secret rides in the query and must not."""
    base, _, query = url.partition("?")
    params = [p if not p.startswith("key=") else "key=<redacted>" for p in query.split("&")] if query else []
    return base + ("?" + "&".join(params) if params else "")


def attempt_index() -> int:
    return _small_number(request.args.get("a", ""))


def _small_number(value: str) -> int:
    """A short run of ASCII digits as a number, else -1 (`str.isdigit` takes "²", which int() refuses)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 4 else -1


def xml(template: str, **context: object) -> Response:
    # Straight from the app's Jinja environment (same autoescaping, template cache): the markup
    # reads only what is passed, so Flask's context processors and render signals are skipped.
    return Response(current_app.jinja_env.get_template(template).render(context), mimetype="text/xml")


def speak(provider: Provider, verification_id: str, script: VoiceScript, repeats: int) -> Response:
    """The code, twice, digit by digit; with the keypad prompt while repeats are left."""
    base = service().settings.public_base_url
    menu = None
    if repeats < VOICE_REPEATS:
        menu = menu_url(base, provider.name, verification_id, attempt_index(), repeats=repeats)
    return xml(f"{provider.dialect}/call.xml", script=script, text=words(script.locale, script.purpose), menu_url=menu)


def goodbye(provider: Provider, script: VoiceScript) -> Response:
    return xml(f"{provider.dialect}/goodbye.xml", script=script, text=words(script.locale))


@bp.post("/voice/<verification_id>")
def answer_call(provider: str, verification_id: str) -> Response:
    adapter, webhook = signed_request(provider, "answer")
    if verification_id.startswith("ap_"):
        return _approval_call(adapter, webhook, verification_id)
    settings = service().settings
    machine = settings.hang_up_on_machines and adapter.answered_by_machine(webhook)
    default_gate = settings.otp_voice_press_key
    script = service().voice_script(provider, verification_id, attempt_index(), speak=not (machine or default_gate))
    if machine:
        return goodbye(adapter, script)  # never leave a code on voicemail
    # A /v2 service's own gate (DtmfInputRequired) wins over the environment's.
    gated = default_gate if script.press_key is None else script.press_key
    if script.available and default_gate and not gated:
        script = service().voice_script(provider, verification_id, attempt_index())
    if script.available and gated:
        gate = menu_url(settings.public_base_url, provider, verification_id, attempt_index(), gate=True)
        return xml(f"{adapter.dialect}/gate.xml", script=script, text=words(script.locale), menu_url=gate)
    return speak(adapter, verification_id, script, 0)


@bp.post("/voice/<verification_id>/menu")
def call_menu(provider: str, verification_id: str) -> Response:
    adapter, webhook = signed_request(provider, "menu")
    digits = webhook.form.first("Digits")
    repeats = _small_number(request.args.get("r", ""))
    if verification_id.startswith("ap_"):
        return _approval_menu(adapter, verification_id, digits, repeats)
    if request.args.get("g") == "1" and digits:
        next_repeats = 0  # the gate: any key, and the code is read for the first time
    elif digits == "1" and 0 <= repeats < VOICE_REPEATS:
        next_repeats = repeats + 1
    else:
        return goodbye(adapter, service().voice_script(provider, verification_id, -1, speak=False))
    return speak(
        adapter, verification_id, service().voice_script(provider, verification_id, attempt_index()), next_repeats
    )


@bp.post("/status/message/<verification_id>")
def message_status(provider: str, verification_id: str) -> tuple[str, int]:
    adapter, webhook = signed_request(provider, "message_status")
    report = _parsed(adapter.message_status, webhook)
    _on_status(provider, Channel.SMS, verification_id, report)
    return "", 204


@bp.post("/status/call/<verification_id>")
def call_status(provider: str, verification_id: str) -> tuple[str, int]:
    adapter, webhook = signed_request(provider, "call_status")
    report = _parsed(adapter.call_status, webhook)
    _on_status(provider, Channel.CALL, verification_id, report)
    return "", 204


@bp.post("/sms")
def inbound_sms(provider: str) -> Response:
    adapter, webhook = signed_request(provider, "inbound_sms")
    message = _parsed(adapter.inbound_sms, webhook)
    text = handle_inbound(service(), provider, message)
    if not adapter.replies_inline:
        if text:
            service().send_reply(adapter, message.from_number, text)
        return Response("", status=200)
    return xml(f"{adapter.dialect}/sms_reply.xml", reply=text, to=message.from_number, sender=message.to_number)


def _on_status(provider: str, channel: Channel, resource_id: str, report: StatusReport) -> None:
    if resource_id.startswith("ap_"):
        approvals().on_status(provider, channel, resource_id, attempt_index(), report)
    elif resource_id.startswith("nt_"):
        notices().on_status(provider, channel, resource_id, attempt_index(), report)
    else:
        service().on_status(provider, channel, resource_id, attempt_index(), report)


# --- approval requests' calls: the message, then "press 1 to approve, 2 to deny" ----------------------


def _approval_call(adapter: Provider, webhook: WebhookRequest, approval_id: str) -> Response:
    script = approvals().voice_script(adapter.name, approval_id, attempt_index())
    if adapter.answered_by_machine(webhook):  # a voicemail hears nothing of it, whatever OTP_VOICE_MACHINE says
        return goodbye(adapter, VoiceScript(script.locale, script.brand))
    return _ask(adapter, approval_id, script, 0)


def _ask(adapter: Provider, approval_id: str, script: ApprovalScript, played: int) -> Response:
    """The question; silence or another key comes back to the menu (`r`: how often it was asked)."""
    base = service().settings.public_base_url
    menu = menu_url(base, adapter.name, approval_id, attempt_index(), repeats=played)
    return xml(f"{adapter.dialect}/approval.xml", script=script, text=words(script.locale),
               said=approval_words(script.locale), menu_url=menu)  # fmt: skip


def _approval_menu(adapter: Provider, approval_id: str, digits: str, played: int) -> Response:
    outcome = approvals().on_keypress(adapter.name, approval_id, attempt_index(), digits)
    script = approvals().voice_script(adapter.name, approval_id, attempt_index())
    if outcome is None and script.available and played < MENU_REPEATS:
        return _ask(adapter, approval_id, script, played + 1)
    if outcome is None:  # asked three times: it stays pending
        return goodbye(adapter, VoiceScript(script.locale, script.brand))
    line = approval_reply(script.locale, outcome, brand=script.brand)
    return xml(f"{adapter.dialect}/said.xml", text=words(script.locale), line=line)


def _parsed(parse: Callable[[WebhookRequest], T], webhook: WebhookRequest) -> T:
    try:
        return parse(webhook)
    except ValueError as exc:
        event("webhook.unparsable", level=logging.WARNING, path=request.path, why=exc)
        abort(400)
