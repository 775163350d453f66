"""Flask CLI commands under `flask otp`: send, check, try, urls, simulate, and the timer worker."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from telephony import services
from telephony.delivery import Deliverer
from telephony.errors import InvalidPhone, InvalidRequest, ServiceError, StoreUnavailable
from telephony.eventlog import Delivery, Event
from telephony.notice_service import KINDS
from telephony.providers import SPECS
from telephony.service import VerificationService
from telephony.store import Store
from telephony.urls import answer_url, inbound_sms_url
from webhooks import qr
from webhooks.context import approvals, factors, notices, service
from webhooks.demo import number_hint
from webhooks.event_views import EventPayloads
from webhooks.metrics import share_across_processes
from webhooks.simulate import simulate, spoken
from webhooks.views import iso, notice_view, verification_view

otp = AppGroup("otp", help="Phone verification commands.")
otp.add_command(simulate)
log = logging.getLogger("webhooks")


def work_forever(app: Flask, interval: float, stop: threading.Event) -> None:
    """Fire due fallback timers and deliver events until `stop` is set; a store outage only delays them."""
    with app.app_context():  # the event payloads are the API's views
        verification = service()
        deliverer = Deliverer(verification.settings, verification.store, EventPayloads())
        try:
            while not stop.is_set():
                if not work_once(verification, deliverer):
                    stop.wait(interval)
        finally:
            deliverer.close()


def work_once(verification: VerificationService, deliverer: Deliverer) -> int:
    """One round of the worker: due timers, new events, due deliveries; how much it did."""
    done = 0
    for step in (verification.fire_due_timers, deliverer.run_once):
        with contextlib.suppress(StoreUnavailable):  # logged by the store; all waits in Redis till it is back
            done += step()
    return done


def start_worker_thread(app: Flask, interval: float = 1.0) -> threading.Event:
    """Development: the worker's rounds in a daemon thread of the web process."""
    stop = threading.Event()
    thread = threading.Thread(target=work_forever, args=(app, interval, stop), daemon=True, name="otp-worker")
    thread.start()
    return stop


@otp.command("worker")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@click.option("--once", is_flag=True, help="Do what is due now (timers, events, deliveries), then exit.")
def worker(interval: float, once: bool) -> None:
    """Fire SMS-to-call fallback timers, write expiry events and deliver webhooks (run one or more
    beside the web processes)."""
    share_across_processes()  # what it does is counted on the web processes' /metrics
    verification = service()
    _rekey(verification)
    if once:
        deliverer = Deliverer(verification.settings, verification.store, EventPayloads())
        try:
            fired = verification.fire_due_timers()
            click.echo(f"fired {fired} timer(s), attempted {deliverer.run_once()} delivery(ies)")
        finally:
            deliverer.close()
        return
    click.echo(f"otp worker: polling every {interval}s for due timers, events and deliveries")
    stop = threading.Event()
    try:
        work_forever(current_app._get_current_object(), interval, stop)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        stop.set()


@otp.command("rekey")
def rekey() -> None:
    """Name every opt-out under the current SECRET_KEY (the worker also does this when it starts)."""
    try:
        moved = service().store.rekey_opt_outs()
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"renamed {moved} opt-out(s) under the current SECRET_KEY")


def _rekey(verification: VerificationService) -> None:
    """Opt-outs never expire: during a SECRET_KEY rotation (SECRET_KEY_FALLBACKS set) they are
    renamed under the new key while the old one is still a fallback. Only then: the rename scans
    every key (1.7 s over a million), too much for every worker start. An upgrade from the
    numbered key names runs `flask otp rekey` once."""
    if not verification.store.names.rotating:
        return
    try:
        moved = verification.store.rekey_opt_outs()
    except StoreUnavailable:
        return  # logged by the store; the next worker start tries again
    if moved:
        log.info("event=opt_outs.rekeyed count=%d", moved)


def _fail(exc: ServiceError) -> None:
    raise click.ClickException(f"{exc.code}: {exc.message}")


@otp.command("send")
@click.argument("number")
@click.option("--channel", type=click.Choice(["sms", "call", "auto"]), default="sms", show_default=True)
@click.option("--locale", default=None, help="en, es, fr, de, pt or it (default: from the number's country).")
def send(number: str, channel: str, locale: str | None) -> None:
    """Start a verification to NUMBER and print it as the API would."""
    try:
        v = service().start(number, channel, locale)
    except ServiceError as exc:
        _fail(exc)
    click.echo(json.dumps(verification_view(v), indent=2))


@otp.command("check")
@click.argument("verification_id")
@click.argument("code")
def check(verification_id: str, code: str) -> None:
    """Check CODE against a verification; exits 1 when it is wrong."""
    try:
        v, valid = service().check(verification_id, code)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"{'approved' if valid else 'wrong code'} ({v.checks_left} checks left, status {v.status})")
    if not valid:
        raise SystemExit(1)


@otp.command("events")
@click.option("--last", default=20, show_default=True, help="How many of the newest events to print first.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events, and each change of a delivery.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls with --follow.")
def events(last: int, follow: bool, interval: float) -> None:
    """Print lifecycle events: time, type, resource and delivery status (as GET /v1/events has them)."""
    store = service().store
    shown: dict[str, str] = {}  # event id -> the delivery line printed for it
    cursor: str | None = None  # the log is read from here: before the oldest event still being delivered
    try:
        while True:
            rows, fresh = _read_events(store, cursor), []
            for e, delivery in rows:
                line = _delivery_line(delivery)
                if shown.get(e.id) != line:
                    fresh.append(f"{iso(e.at)}  {e.type:<36} {e.resource}  {line}")
                    shown[e.id] = line
            for text in fresh[-last:] if cursor is None else fresh:
                click.echo(text)
            shown = {e.id: shown[e.id] for e, _ in rows if e.id in shown}  # what the next read can return
            pending = [i for i, (_, d) in enumerate(rows) if d is not None and not d.final]
            start = pending[0] if pending else len(rows)
            cursor = rows[start - 1][0].id if start > 0 else cursor
            if not follow:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    except ServiceError as exc:
        _fail(exc)


def _read_events(store: Store, after: str | None) -> list[tuple[Event, Delivery | None]]:
    rows: list[tuple[Event, Delivery | None]] = []
    while True:
        page, more = store.list_events(after, 500)
        rows += page
        if not more or not page:
            return rows
        after = page[-1][0].id


def _delivery_line(d: Delivery | None) -> str:
    if d is None:
        return "not sent (no WEBHOOK_URL)"
    answer = f", HTTP {d.last_status}" if d.last_status is not None else (f", {d.error}" if d.error else "")
    due = f", next at {iso(d.next_attempt_at)}" if d.next_attempt_at and not d.final else ""
    return f"{d.status} ({d.attempts} attempt{'s' if d.attempts != 1 else ''}{answer}{due})"


@otp.command("approve")
@click.argument("number")
@click.option("--message", required=True, help="What the person approves, e.g. 'Sign in to Acme from Chrome'.")
@click.option("--detail", "details", multiple=True, metavar="KEY=VALUE", help="Shown with the message (repeatable).")
@click.option("--channel", type=click.Choice(["sms", "call"]), default="sms", show_default=True)
@click.option("--expires-in", default=300, show_default=True, help="Seconds to answer in (30 to 3600).")
@click.option("--no-wait", is_flag=True, help="Print the request and return without waiting for the answer.")
def approve(number: str, message: str, details: tuple[str, ...], channel: str, expires_in: int, no_wait: bool) -> None:
    """Ask NUMBER to approve MESSAGE by SMS reply or keypress; wait and print the outcome (exit status
    1 unless approved). With the memory store only this process sees the answer: use REDIS_URL to
    answer through a running server."""
    fields = dict(d.partition("=")[::2] for d in details)
    try:
        a = approvals().start(number, message, details=fields, channel=channel, expires_in=expires_in)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"approval {a.id} sent by {a.channel} to {a.to}: reference {a.reference}")
    if no_wait:
        return
    clock = approvals().codes.clock
    while (status := approvals().get(a.id).shown_status(clock())) == "pending":
        time.sleep(1)
    click.echo(status)
    if status != "approved":
        raise SystemExit(1)


@otp.command("try")
@click.option("--channel", type=click.Choice(["sms", "call", "auto"]), default="sms", show_default=True)
def try_it(channel: str) -> None:
    """Interactive: ask for a number, send it a code, then ask for the code until it is right."""
    verification = service()
    question = f"Phone number ({number_hint(verification.settings.default_region)})"
    while True:
        number = click.prompt(question)
        try:
            v = verification.start(number, channel)
            break
        except (InvalidPhone, InvalidRequest) as exc:
            click.echo(exc.message)  # a typo should not end the session
        except ServiceError as exc:
            _fail(exc)
    click.echo(f"Code sent by {v.channel} to {v.to} (verification {v.id}).")
    if v.attempts and v.attempts[-1].channel == "call" and v.attempts[-1].provider == "console":
        _play_console_call(v.id, len(v.attempts) - 1, v.attempts[-1].provider_id or "")
    while True:
        code = click.prompt("Code")
        try:
            v, valid = verification.check(v.id, code)
        except ServiceError as exc:
            _fail(exc)
        if valid:
            click.echo("Verified!")
            return
        click.echo(f"That code is wrong; {v.checks_left} tries left.")


def _play_console_call(verification_id: str, index: int, call_id: str) -> None:
    """Answer a console call as a phone would, through the app's own answer URL, and print what the
    caller hears: the console provider rings nobody, and its log line only names the URL."""
    base = service().settings.public_base_url
    path = answer_url(base, "console", verification_id, index).removeprefix(base)
    markup = current_app.test_client().post(path, data={"CallSid": call_id, "CallStatus": "in-progress"})
    click.echo("The call, as the person would hear it:")
    for line in spoken(markup.get_data()):
        click.echo(f"  {line}")


@otp.command("urls")
def urls() -> None:
    """The webhook URLs to paste into each provider's console, built on PUBLIC_BASE_URL."""
    settings = service().settings
    base = settings.public_base_url
    click.echo(f"PUBLIC_BASE_URL = {base}")
    for name in dict.fromkeys(settings.sms_providers + settings.voice_providers):
        spec = SPECS[name]
        if spec.signing_key is None:
            continue  # the console provider: nothing to paste anywhere
        # Signing with the setting's name shows where a provider that signs nothing wants its secret.
        url = spec.sign(f"<{spec.signing_key}>", inbound_sms_url(base, name), {}).url
        click.echo(f"{name}: inbound SMS (POST) -> {url}")
    click.echo("Delivery receipts, call status and answer URLs are sent with each message and call;")
    click.echo("nothing else needs pasting.")


# The developer's tools: under the Flask CLI they default to APP_ENV=development, as `python app.py`
# does, so the quick start's `flask --app app otp try` needs no setting. `worker` and Flask's own
# commands keep the production default of every other entry point.
_DEVELOPMENT_TOOLS = (send, check, try_it, simulate)


def development_tool_running() -> bool:
    """Whether the current Flask CLI command is one of the developer's tools (or under `simulate`)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.parent is None:
        # Flask loads the app to resolve `otp`, before that group has a context and after click has
        # taken the words off its own lists: the command line is all there is to go by.
        words = sys.argv[1:]
        return any(words[i : i + 2] == [otp.name, tool.name] for i in range(len(words)) for tool in _DEVELOPMENT_TOOLS)
    while ctx is not None:
        if ctx.command in _DEVELOPMENT_TOOLS:
            return True
        ctx = ctx.parent
    return False


@otp.group("service")
def service_group() -> None:
    """The /v2 API's services (Twilio Verify's multi-tenant unit)."""


@service_group.command("create")
@click.argument("friendly_name")
@click.option("--code-length", type=click.IntRange(4, 10), help="Digits per code (the environment's by default).")
@click.option("--skip-sms-to-landlines", is_flag=True, help="Refuse SMS to landlines (Twilio's 60205).")
@click.option("--psd2", is_flag=True, help="Allow Amount and Payee (PSD2 dynamic linking).")
@click.option("--custom-code", is_flag=True, help="Allow the application's own CustomCode.")
def service_create(friendly_name: str, code_length: int | None, skip_sms_to_landlines: bool, psd2: bool,
                   custom_code: bool) -> None:  # fmt: skip
    """Create a service; prints its SID (VA...)."""
    verification = service()
    form = {"FriendlyName": friendly_name, "SkipSmsToLandlines": str(skip_sms_to_landlines).lower(),
            "Psd2Enabled": str(psd2).lower(), "CustomCodeEnabled": str(custom_code).lower()}  # fmt: skip
    if code_length is not None:
        form["CodeLength"] = str(code_length)
    try:
        created = services.create(form, services.default_service(verification.settings), verification.clock())
    except ServiceError as exc:
        _fail(exc)
    services.put(verification.store, created)
    click.echo(created.sid)


@service_group.command("list")
def service_list() -> None:
    """Every service: SID, name and settings that differ from Twilio's defaults."""
    found = services.every(service().store)
    if not found:
        click.echo("no services yet: flask --app app otp service create NAME")
    for s in found:
        flags = [name for name, on in (("skip-landlines", s.skip_sms_to_landlines), ("psd2", s.psd2_enabled),
                                       ("custom-code", s.custom_code_enabled)) if on]  # fmt: skip
        extra = f"  {' '.join(flags)}" if flags else ""
        extra = f"  {' '.join(flags)}" if flags else ""
        click.echo(f"{s.sid}  {s.friendly_name}  code length {s.code_length}{extra}")


# --- authenticator apps (the TOTP factors of /v1/factors) ----------------------------------------


@otp.group("totp")
def totp_group() -> None:
    """Authenticator apps (TOTP): enrol one for an identity, check its codes."""


@totp_group.command("enrol")
@click.argument("identity")
@click.option("--name", help="The account name the app shows (default: IDENTITY).")
@click.option("--issuer", help="Whose code the app says it is (default: OTP_BRAND).")
def totp_enrol(identity: str, name: str | None, issuer: str | None) -> None:
    """Enrol an authenticator app for IDENTITY: prints the factor's id, its secret and the QR code to
    scan. The factor is verified by its first right code (`totp check`)."""
    try:
        f, secret = factors().enrol(identity, name or identity, issuer or service().settings.otp_brand)
    except ServiceError as exc:
        _fail(exc)
    uri = factors().uri(f, secret)
    click.echo(qr.terminal(uri), nl=False)
    click.echo(f"factor  {f.id}\nsecret  {secret}\nuri     {uri}")
    click.echo(f"Scan it (or type the secret) into the app, then: flask --app app otp totp check {f.id} CODE")


@totp_group.command("check")
@click.argument("factor_id")
@click.argument("code")
def totp_check(factor_id: str, code: str) -> None:
    """Check CODE from the app (the first right one verifies the factor); exits 1 when it is wrong."""
    try:
        before = factors().get(factor_id)
        f, valid = factors().verify(factor_id, code)
    except ServiceError as exc:
        _fail(exc)
    if valid:
        click.echo("right code" + ("" if before.verified else ": the factor is verified now"))
        return
    click.echo(f"wrong code (or one already used); the factor is {f.status}")
    raise SystemExit(1)


# --- notices (/v1/notices) -----------------------------------------------------------------------


@otp.command("notice")
@click.argument("number")
@click.argument("kind", type=click.Choice([str(k) for k in KINDS]))
@click.option("--locale", default=None, help="en, es, fr, de, pt or it (default: from the number's country).")
def notice(number: str, kind: str, locale: str | None) -> None:
    """Send NUMBER a notice of KIND and print it as the API would (exit status 1 when it failed)."""
    try:
        n = notices().send(number, kind, locale)
    except ServiceError as exc:
        _fail(exc)
    click.echo(json.dumps(notice_view(n), indent=2))
    if n.status == "failed":
        raise SystemExit(1)
