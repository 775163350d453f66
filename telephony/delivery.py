"""The delivery worker's step: log the events changes wrote, then attempt the deliveries that are due.

Runs in `flask otp worker` (and a thread of `python app.py`), never in a request: a slow or dead
receiver delays only its own deliveries. Each attempt is leased in the store, so any number of
workers attempt each delivery once at a time, and a resource's events reach each target in order.

Two kinds of target: WEBHOOK_URL (`eventlog.MAIN_TARGET`) gets the Standard Webhooks JSON body and
headers; a /v2 service's webhook (its YW SID) gets Twilio's form body signed with `X-Twilio-Signature`
keyed by the first API key, so the application's own `RequestValidator` checks it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from telephony.config import Settings
from telephony.eventlog import LEASE, MAIN_TARGET, Claim, Delivery, DeliveryStatus, Event, outcome
from telephony.events import event
from telephony.outbound import TIMEOUT, WebhookSigner, session
from telephony.store import Store

WORKERS = 8  # deliveries attempted at once by one worker process, and claimed at once
# The longest an attempt can take (requests' timeout is per connect and per read), with a margin: an
# attempt that could not finish inside its lease is not started (another worker will take it).
ATTEMPT_MAX = 2 * TIMEOUT + 5


class Payloads(Protocol):
    """How an event is shown to each kind of receiver (the API's views: webhooks/event_views.py)."""

    def standard(self, e: Event) -> dict[str, Any]:
        """The Standard Webhooks body: {type, timestamp, data}."""

    def twilio(self, e: Event, webhook: dict[str, Any]) -> dict[str, str]:
        """A /v2 webhook's form fields."""


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    sign: Callable[[int], dict[str, str]]  # the signature headers for an attempt at that Unix time


class Deliverer:
    def __init__(
        self, settings: Settings, store: Store, payloads: Payloads, *,
        schedule: tuple[float, ...] | None = None, rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.settings, self.store, self.payloads = settings, store, payloads
        self.schedule = schedule or settings.webhook_retry_schedule
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.signer = WebhookSigner(settings.webhook_secret, settings.webhook_secret_fallbacks) \
            if settings.webhook_secret else None  # fmt: skip
        self.http = session(settings.webhook_private_allowed)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="otp-deliver")

    def targets(self, e: Event, webhooks: dict[str, list[dict[str, Any]]] | None = None) -> list[str]:
        """WEBHOOK_URL, when set, and each enabled webhook of the event's /v2 service that asked for it.
        `webhooks` keeps each service's webhooks read once for a batch of events."""
        found = [MAIN_TARGET] if self.settings.webhook_url else []
        if e.service:
            known = webhooks if webhooks is not None else {}
            if e.service not in known:
                known[e.service] = [json.loads(text) for text in self.store.doc_list("webhook", e.service)]
            for doc in known[e.service]:
                if doc.get("status") == "enabled" and ({"*", e.type} & set(doc.get("event_types", []))):
                    found.append(doc["sid"])
        return found

    def run_once(self, limit: int = WORKERS) -> int:
        """Log new events, then attempt the due deliveries; how many were attempted.

        No more are claimed than the pool attempts at once (`limit` at most WORKERS): every claim
        starts right away, well inside its lease, so no other worker can take one still to be sent."""
        webhooks: dict[str, list[dict[str, Any]]] = {}  # read once per round, not once per event
        for e in self.store.collect_events(lambda e: self.targets(e, webhooks)):
            event("event.created", type=e.type, resource=e.resource, event_id=e.id)
        claimed_at = time.monotonic()
        claims = self.store.claim_deliveries(LEASE, min(limit, WORKERS))
        jobs = []
        for claim in claims:
            prepared = self._prepare(claim)  # here, not in the pool: the payloads may need the app
            if isinstance(prepared, Delivery):
                self._finish(claim, prepared)
            else:
                jobs.append(self._pool.submit(self._attempt, claim, prepared, claimed_at))
        for job in jobs:
            job.result()
        return len(claims)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.http.close()

    def _prepare(self, claim: Claim) -> Request | Delivery:
        e, failed = claim.event, claim.delivery
        if claim.target == MAIN_TARGET:
            if not self.settings.webhook_url or self.signer is None:
                return Delivery(DeliveryStatus.FAILED, failed.attempts, error="WEBHOOK_URL is no longer set")
            body = json.dumps(self.payloads.standard(e), separators=(",", ":")).encode()
            signer = self.signer
            return Request(self.settings.webhook_url, body, {"Content-Type": "application/json"},
                           lambda ts: signer.headers(e.id, ts, body))  # fmt: skip
        text = self.store.doc_get("webhook", claim.target)
        doc = json.loads(text) if text else None
        if doc is None or doc.get("status") != "enabled":
            why = "the webhook was deleted" if doc is None else "the webhook is disabled"
            return Delivery(DeliveryStatus.FAILED, failed.attempts, error=why)
        params = self.payloads.twilio(e, doc)
        url = doc["webhook_url"]
        key = self.settings.api_keys[0] if self.settings.api_keys else ""
        signature = RequestValidator(key).compute_signature(url, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
                   "I-Twilio-Idempotency-Token": e.id}  # fmt: skip
        return Request(url, urlencode(params).encode(), headers, lambda ts: {})

    def _attempt(self, claim: Claim, req: Request, claimed_at: float) -> None:
        if time.monotonic() - claimed_at > LEASE - ATTEMPT_MAX:
            event("event.lease_short", event_id=claim.event.id, target=claim.target or "main")
            return  # it might outlast its lease and meet another worker's attempt: let the lease lapse
        status: int | None = None
        error, retry_after = "", None
        headers = {**req.headers, **req.sign(int(time.time())), "User-Agent": "otp-verify-webhooks/1"}
        try:
            answer = self.http.post(req.url, data=req.body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
            status = answer.status_code
            retry_after = _seconds(answer.headers.get("Retry-After"))
            answer.close()
        except requests.RequestException as exc:
            error = _why(exc)
        now = self.store.now()
        result = outcome(claim.delivery, status, error, now, schedule=self.schedule, retry_after=retry_after,
                         rng=self.rng)  # fmt: skip
        self._finish(claim, result)

    def _finish(self, claim: Claim, result: Delivery) -> None:
        if not self.store.finish_delivery(claim, result):
            event("event.lease_lost", event_id=claim.event.id, target=claim.target or "main")
            return
        e, target = claim.event, claim.target or "main"
        common: dict[str, Any] = {"type": e.type, "event_id": e.id, "target": target, "attempt": result.attempts,
                  "http_status": result.last_status}  # fmt: skip
        if result.status == DeliveryStatus.DELIVERED:
            event("event.delivered", None, latency=round(self.store.now() - e.at, 3), **common)
        elif result.status == DeliveryStatus.FAILED:
            event("event.delivery_failed", None, level=logging.WARNING, error=result.error, **common)
        else:
            event("event.retry", None, error=result.error, next_attempt_at=result.next_attempt_at, **common)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _why(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT:g} s"
    return f"{type(exc).__name__}: {str(exc)[:150]}"
