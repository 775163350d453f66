"""Flask CLI commands under `flask otp`: the timer worker (more commands live beside it)."""

from __future__ import annotations

import logging
import threading

import click
from flask.cli import AppGroup

from telephony.errors import StoreUnavailable
from telephony.service import VerificationService
from webhooks.context import service

otp = AppGroup("otp", help="Phone verification commands.")
log = logging.getLogger("webhooks")


def fire_timers_forever(verification: VerificationService, interval: float, stop: threading.Event) -> None:
    """Fire due fallback timers until `stop` is set; a store outage only delays them."""
    while not stop.is_set():
        try:
            fired = verification.fire_due_timers()
        except StoreUnavailable:
            fired = 0  # logged by the store; timers stay in Redis and fire once it is back
        if not fired:
            stop.wait(interval)


def start_timer_thread(verification: VerificationService, interval: float = 1.0) -> threading.Event:
    """Development: fire timers from a daemon thread of the web process."""
    stop = threading.Event()
    thread = threading.Thread(target=fire_timers_forever, args=(verification, interval, stop), daemon=True)
    thread.name = "otp-timers"
    thread.start()
    return stop


@otp.command("worker")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@click.option("--once", is_flag=True, help="Fire the timers due now, then exit.")
def worker(interval: float, once: bool) -> None:
    """Fire SMS-to-call fallback timers (run one or more beside the web processes)."""
    verification = service()
    if once:
        click.echo(f"fired {verification.fire_due_timers()} timer(s)")
        return
    click.echo(f"otp worker: polling every {interval}s for due fallback timers")
    stop = threading.Event()
    try:
        fire_timers_forever(verification, interval, stop)
    except KeyboardInterrupt:
        stop.set()
