"""`flask otp simulate`: play the carrier against a running instance, correctly signed.

A developer without a phone or a tunnel can watch the whole flow: delivery receipts, call status,
the answer URL as the caller would hear it, and inbound SMS keywords.
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from typing import Any

import click
import requests
from flask.cli import AppGroup
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from telephony.config import Settings
from telephony.errors import ServiceError
from telephony.urls import answer_url, inbound_sms_url, status_url
from webhooks.context import service

simulate = AppGroup("simulate", help="Play the carrier against a running instance (signed like the real one).")


def _sign(settings: Settings, provider: str, url: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The URL to post to and the headers that make `provider` accept the request."""
    c = settings.credential
    if provider in ("twilio", "signalwire"):
        token = c("TWILIO_AUTH_TOKEN") if provider == "twilio" else c("SIGNALWIRE_SIGNING_KEY")
        header = "X-Twilio-Signature" if provider == "twilio" else "X-SignalWire-Signature"
        return url, {header: RequestValidator(token).compute_signature(url, params)}
    if provider == "plivo":
        nonce = secrets.token_hex(10)
        signed = get_signature_v3(c("PLIVO_AUTH_TOKEN").encode(), construct_post_url(url, params).decode(),
                                  nonce.encode())  # fmt: skip
        return url, {"X-Plivo-Signature-V3": signed.decode(), "X-Plivo-Signature-V3-Nonce": nonce}
    if provider == "flowroute":
        return f"{url}{'&' if '?' in url else '?'}key={c('FLOWROUTE_WEBHOOK_SECRET')}", {}
    return url, {}  # console: development only, unsigned


def _post(target: str, provider: str, url: str, params: dict[str, Any], *, as_json: bool = False) -> requests.Response:
    settings = service().settings
    signed_url, headers = _sign(settings, provider, url, {} if as_json else params)
    sent_to = target.rstrip("/") + signed_url.removeprefix(settings.public_base_url)
    if as_json:
        return requests.post(sent_to, data=json.dumps(params), headers={**headers, "Content-Type": "application/json"},
                             timeout=10)  # fmt: skip
    return requests.post(sent_to, data=params, headers=headers, timeout=10)


def _newest(verification_id: str, channel: str) -> tuple[int, str, str]:
    settings = service().settings
    try:
        v = service().get(verification_id)
    except ServiceError as exc:
        if not settings.redis_url:
            # The in-memory store lives inside the server's process: this one cannot see its verifications.
            raise click.ClickException(
                f"{verification_id} is not in this process's memory store: simulate reads the running instance's "
                "verifications from its store, so start both with the same REDIS_URL and SECRET_KEY (in .env, say)"
            ) from None
        raise click.ClickException(
            f"{exc.code}: {exc.message} (is SECRET_KEY the running instance's? it keys the store's names)"
        ) from None
    for index in range(len(v.attempts) - 1, -1, -1):
        attempt = v.attempts[index]
        if attempt.channel == channel:
            return index, attempt.provider, attempt.provider_id or ""
    raise click.ClickException(f"{verification_id} has no {channel} send")


def spoken(document: bytes) -> list[str]:
    root = ET.fromstring(document)  # noqa: S314 - our own server's answer
    return [e.text.strip() for e in root.iter() if e.tag in ("Say", "Speak", "Message") and e.text]


target_option = click.option("--target", default=None, help="Where the instance listens (default: PUBLIC_BASE_URL).")


def _target(target: str | None) -> str:
    return target or service().settings.public_base_url


@simulate.command("receipt")
@click.argument("verification_id")
@click.option("--status", default="delivered", show_default=True, help="The provider's own status word.")
@target_option
def receipt(verification_id: str, status: str, target: str | None) -> None:
    """Deliver a receipt for the verification's newest SMS."""
    index, provider, message_id = _newest(verification_id, "sms")
    url = status_url(service().settings.public_base_url, provider, "message", verification_id, index)
    if provider == "flowroute":
        body = {"data": {"type": "delivery_receipt", "id": message_id, "attributes": {"status": status, "level": 2}}}
        response = _post(_target(target), provider, url, body, as_json=True)
    elif provider == "plivo":
        response = _post(_target(target), provider, url, {"MessageUUID": message_id, "Status": status})
    else:
        response = _post(_target(target), provider, url, {"MessageSid": message_id, "MessageStatus": status})
    click.echo(f"{provider} receipt '{status}' -> HTTP {response.status_code}")


@simulate.command("call-status")
@click.argument("verification_id")
@click.option("--status", default="completed", show_default=True, help="The provider's own call status word.")
@target_option
def call_status(verification_id: str, status: str, target: str | None) -> None:
    """Report a call status for the verification's newest call."""
    index, provider, call_id = _newest(verification_id, "call")
    url = status_url(service().settings.public_base_url, provider, "call", verification_id, index)
    fields = {"CallUUID": call_id, "RequestUUID": call_id} if provider == "plivo" else {"CallSid": call_id}
    response = _post(_target(target), provider, url, {**fields, "CallStatus": status})
    click.echo(f"{provider} call status '{status}' -> HTTP {response.status_code}")


@simulate.command("answer")
@click.argument("verification_id")
@click.option("--press", "keys", multiple=True, help="Keys pressed after each prompt, in order (e.g. --press 1).")
@target_option
def answer(verification_id: str, keys: tuple[str, ...], target: str | None) -> None:
    """Answer the newest call and print what the caller hears (then press --press keys)."""
    index, provider, call_id = _newest(verification_id, "call")
    base = service().settings.public_base_url
    fields = {"CallUUID": call_id, "RequestUUID": call_id} if provider == "plivo" else {"CallSid": call_id}
    response = _post(_target(target), provider, answer_url(base, provider, verification_id, index), fields)
    click.echo("\n".join(spoken(response.content)))
    for key in keys:
        prompt = ET.fromstring(response.content).find(".//*[@action]")  # noqa: S314 - our own server's answer
        if prompt is None:
            click.echo("[the call has ended]")
            return
        click.echo(f"[presses {key}]")
        # As the carrier does: post the key to the prompt's action URL.
        response = _post(_target(target), provider, prompt.get("action", ""), {**fields, "Digits": key})
        click.echo("\n".join(spoken(response.content)))


@simulate.command("inbound")
@click.argument("sender")
@click.argument("body")
@click.option("--provider", default=None, help="Which provider receives it (default: the first SMS provider).")
@target_option
def inbound(sender: str, body: str, provider: str | None, target: str | None) -> None:
    """Send BODY (STOP, START, HELP, CALL, RESEND...) from SENDER to our number; print the reply."""
    settings = service().settings
    name = provider or settings.sms_providers[0]
    ours = settings.credential(f"{name.upper()}_FROM") or "+15550000000"
    url = inbound_sms_url(settings.public_base_url, name)
    message_id = "SIM" + secrets.token_hex(8)
    if name == "flowroute":
        attributes = {"from": sender.lstrip("+"), "to": ours.lstrip("+"), "body": body}
        document = {"data": {"type": "message", "id": message_id, "attributes": attributes}}
        response = _post(_target(target), name, url, document, as_json=True)
    elif name == "plivo":
        response = _post(_target(target), name, url, {"MessageUUID": message_id, "From": sender.lstrip("+"),
                                                       "To": ours.lstrip("+"), "Text": body})  # fmt: skip
    else:
        response = _post(_target(target), name, url, {"MessageSid": message_id, "From": sender, "To": ours,
                                                       "Body": body})  # fmt: skip
    reply = spoken(response.content) if response.content.strip() else []
    click.echo(f"HTTP {response.status_code}: " + (reply[0] if reply else "(no reply)"))
