"""`flask otp simulate`: play the carrier against a running instance, correctly signed.

A developer without a phone or a tunnel can watch the whole flow: delivery receipts, call status,
the answer URL as the caller would hear it, and inbound SMS keywords.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from telephony.approvals import Approval
from telephony.errors import ServiceError
from telephony.models import Verification
from telephony.providers import SPECS, ProviderSpec
from telephony.providers.base import Payload, Sample
from telephony.urls import answer_url, inbound_sms_url, status_url
from webhooks.context import approvals, service

simulate = AppGroup("simulate", help="Play the carrier against a running instance (signed like the real one).")


def _signed(provider: str, url: str, payload: Payload) -> tuple[str, bytes | dict[str, str], dict[str, str]]:
    """The path, body and headers of `payload` POSTed to `url` (built on PUBLIC_BASE_URL), signed as
    `provider` signs with the configured credentials."""
    settings = service().settings
    spec = SPECS[provider]
    key = settings.credential(spec.signing_key) if spec.signing_key else ""
    as_json = spec.webhook_format == "json"
    signed = spec.sign(key, url, {} if as_json else payload)
    path = signed.url.removeprefix(settings.public_base_url)
    if as_json:
        return path, json.dumps(payload).encode(), {**signed.headers, "Content-Type": "application/json"}
    return path, dict(payload), signed.headers


def _post(target: str, provider: str, url: str, payload: Payload) -> requests.Response:
    """POST `payload` to `url` at `target` (a running instance), signed as `provider` signs."""
    path, body, headers = _signed(provider, url, payload)
    return requests.post(target.rstrip("/") + path, data=body, headers=headers, timeout=10)


def play(provider: str, url: str, payload: Payload) -> bytes:
    """The same, into this app itself (the demo page's buttons): the signed carrier webhook runs as
    a carrier's request would, signature check included; its answer's body."""
    path, body, headers = _signed(provider, url, payload)
    return current_app.test_client().post(path, data=body, headers=headers).get_data()


def _caller(spec: ProviderSpec) -> str:
    """Our number at `spec`, as its callbacks name it (the console provider has none)."""
    return service().settings.credential(spec.caller_setting or "") or "+15550000000"


def _call_sample(spec: ProviderSpec, sample: Sample | None) -> Sample:
    if sample is None:
        raise click.ClickException(f"{spec.name} places no calls")
    return sample


def _newest(verification_id: str, channel: str) -> tuple[int, str, str, str]:
    """The index, provider and provider id of the newest `channel` send of a verification (or an
    approval request), and its number."""
    settings = service().settings
    try:
        v: Verification | Approval = (
            approvals().get(verification_id) if verification_id.startswith("ap_") else service().get(verification_id)
        )
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
            return index, attempt.provider, attempt.provider_id or "", v.to
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
    index, provider, message_id, to = _newest(verification_id, "sms")
    spec = SPECS[provider]
    url = status_url(service().settings.public_base_url, provider, "message", verification_id, index)
    payload = spec.receipt(message_id, status, to=to, caller=_caller(spec))
    response = _post(_target(target), provider, url, payload)
    click.echo(f"{provider} receipt '{status}' -> HTTP {response.status_code}")


@simulate.command("call-status")
@click.argument("verification_id")
@click.option("--status", default="completed", show_default=True, help="The provider's own call status word.")
@target_option
def call_status(verification_id: str, status: str, target: str | None) -> None:
    """Report a call status for the verification's newest call."""
    index, provider, call_id, to = _newest(verification_id, "call")
    spec = SPECS[provider]
    url = status_url(service().settings.public_base_url, provider, "call", verification_id, index)
    payload = _call_sample(spec, spec.call_status)(call_id, status, to=to, caller=_caller(spec))
    response = _post(_target(target), provider, url, payload)
    click.echo(f"{provider} call status '{status}' -> HTTP {response.status_code}")


@simulate.command("answer")
@click.argument("verification_id")
@click.option("--press", "keys", multiple=True, help="Keys pressed after each prompt, in order (e.g. --press 1).")
@target_option
def answer(verification_id: str, keys: tuple[str, ...], target: str | None) -> None:
    """Answer the newest call and print what the caller hears (then press --press keys)."""
    index, provider, call_id, to = _newest(verification_id, "call")
    spec = SPECS[provider]
    base = service().settings.public_base_url
    fields = _call_sample(spec, spec.answer)(call_id, "in-progress", to=to, caller=_caller(spec))
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
    """Send BODY (STOP, START, HELP, CALL, RESEND, YES 4821...) from SENDER to our number; print the reply."""
    settings = service().settings
    name = provider or settings.sms_providers[0]
    if name not in SPECS:
        raise click.BadParameter(f"choose from {', '.join(SPECS)}", param_hint="--provider")
    spec = SPECS[name]
    url = inbound_sms_url(settings.public_base_url, name)
    response = _post(_target(target), name, url, spec.inbound(body, sender=sender, caller=_caller(spec)))
    reply = spoken(response.content) if response.content.strip() else []
    click.echo(f"HTTP {response.status_code}: " + (reply[0] if reply else "(no reply)"))


@simulate.command("reply")
@click.argument("sender")
@click.argument("body")
@click.option("--provider", default=None, help="Which provider receives it (default: the first SMS provider).")
@target_option
@click.pass_context
def reply(ctx: click.Context, sender: str, body: str, provider: str | None, target: str | None) -> None:
    """Reply to an approval request from SENDER (`YES 4821`, `NO 4821`); print the answer (as `inbound`)."""
    ctx.invoke(inbound, sender=sender, body=body, provider=provider, target=target)
