"""The verification service: what the API, the demo and the carrier webhooks ask of the domain.

Every change follows one pattern: load, apply a pure rule (`lifecycle`), compare-and-set save,
then act (talk to a provider). A send is written down as a `queued` attempt before the provider
is called, so a callback that beats our own bookkeeping still finds it, and a crash mid-send
leaves a record rather than an unrecorded SMS.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from telephony import lifecycle
from telephony.codes import CodeVault, new_code
from telephony.config import Settings
from telephony.errors import (
    InvalidPhone,
    InvalidRequest,
    MaxAttempts,
    NotFound,
    NotPending,
    ProviderError,
    ProviderFailed,
    RateLimited,
    StoreUnavailable,
)
from telephony.lifecycle import CheckOutcome
from telephony.models import ID_PATTERN, Attempt, Channel, Status, Verification, new_verification_id
from telephony.phone import InvalidPhoneNumber, mask, to_e164
from telephony.providers import Provider, StatusReport
from telephony.store import Store
from telephony.urls import answer_url, status_url
from telephony.wording import LOCALES, locale_for, sms_body

log = logging.getLogger("telephony")
SAVE_RETRIES = 20


@dataclass(frozen=True)
class VoiceScript:
    """What an answer URL should say: the digits, or that the code is gone."""

    locale: str
    brand: str
    digits: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return bool(self.digits)


def event(name: str, v: Verification | None = None, **fields: object) -> None:
    """One structured log line. Numbers are masked; codes are never passed here."""
    parts = [f"event={name}"]
    if v is not None:
        parts += [f"verification={v.id}", f"to={mask(v.to)}"]
    parts += [f"{k}={val}" for k, val in fields.items() if val is not None]
    log.info(" ".join(parts))


class VerificationService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        providers: dict[str, Provider],
        vault: CodeVault,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self.vault = vault
        self.clock = clock
        self._chains = {
            Channel.SMS: [providers[n] for n in settings.sms_providers],
            Channel.CALL: [providers[n] for n in settings.voice_providers],
        }

    # --- the API -------------------------------------------------------------------------

    def start(self, to: str, mode: str = "sms", locale: str | None = None) -> Verification:
        number = self.parse_number(to)
        if mode not in ("sms", "call", "auto"):
            raise InvalidRequest("channel must be sms, call or auto")
        if locale is not None and locale not in LOCALES:
            raise InvalidRequest(f"locale must be one of {', '.join(LOCALES)}")
        now = self.clock()
        vid = new_verification_id(number)
        code = new_code(self.settings.otp_length)
        mac, sealed = self.vault.seal(vid, code)
        channel = Channel.CALL if mode == "call" else Channel.SMS
        first = self._chains[channel][0]
        v = Verification(
            id=vid, to=number, mode=mode, locale=locale or locale_for(number),
            status=Status.PENDING, checks_left=self.settings.otp_max_checks,
            max_sends=self.settings.otp_max_sends, created_at=now,
            expires_at=now + self.settings.otp_ttl, mac=mac, sealed=sealed,
            attempts=(Attempt(1, channel, first.name, "queued", now),),
        )  # fmt: skip
        self.store.create(v)
        event("verification.started", v, mode=mode, locale=v.locale)
        return self._deliver(v, code)

    def get(self, verification_id: str) -> Verification:
        v = self.store.get(self._known(verification_id))
        if v is None:
            raise NotFound("No such verification, or it has expired.")
        return v

    def check(self, verification_id: str, code: object) -> tuple[Verification, bool]:
        return self._check(self._known(verification_id), _code(code), by_number=False)

    def check_by_number(self, to: str, code: object) -> tuple[Verification, bool]:
        candidate = _code(code)
        vid = self.store.latest_for(self.parse_number(to))
        if vid is None:
            raise NotFound("No pending verification for this number.")
        return self._check(vid, candidate, by_number=True)

    def resend(self, verification_id: str, channel: str | None = None) -> Verification:
        if channel not in (None, Channel.SMS, Channel.CALL):
            raise InvalidRequest("channel must be sms or call")

        def reserve(cur: Verification) -> Verification:
            if not cur.pending:
                raise NotPending(f"The verification is {cur.status}.")
            wanted = channel or cur.channel
            now = self.clock()
            if cur.sends_left == 0:
                raise RateLimited("No sends left for this verification.", retry_after=_until(cur.expires_at, now))
            wait = self._resend_wait(cur, wanted, now)
            if wait:
                raise RateLimited(f"Wait {wait} s before sending again.", retry_after=wait)
            return _reserve(cur, wanted, self._chains[wanted][0].name, now)

        v = self._update(self.get(verification_id), reserve)
        event("verification.resend", v, channel=v.channel, send=v.attempts[-1].send_no)
        return self._deliver(v, self.vault.open(v.id, v.sealed))

    def cancel(self, verification_id: str) -> Verification:
        def cancel(cur: Verification) -> Verification:
            if not cur.pending:
                raise NotPending(f"The verification is {cur.status}.")
            return cur.with_changes(status=Status.CANCELED)

        v = self._update(self.get(verification_id), cancel)
        event("verification.canceled", v)
        return v

    def parse_number(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidRequest("`to` must be a string holding a phone number")
        try:
            return to_e164(raw)
        except InvalidPhoneNumber:
            raise InvalidPhone("`to` is not a valid phone number; use E.164, e.g. +14155550100.") from None

    # --- carriers --------------------------------------------------------------------------

    def on_status(self, provider: str, channel: str, verification_id: str, index: int, report: StatusReport) -> None:
        """Apply a delivery receipt or call status; duplicates and regressions change nothing."""
        v = self.store.get(verification_id) if ID_PATTERN.match(verification_id) else None
        if v is None:
            event("status.unknown_verification", provider=provider, verification=verification_id)
            return
        changed_now = {"changed": False, "fallback": False}

        def apply(cur: Verification) -> Verification:
            changed_now.update(changed=False, fallback=False)
            attempt = _attempt_at(cur, index, provider, channel)
            if attempt is None or attempt.provider_id not in (None, report.provider_id):
                return cur
            if report.status is None:
                moved = Attempt(**{**attempt.__dict__, "raw_status": report.raw})
            else:
                moved = lifecycle.advance(attempt, report.status, report.raw) or attempt
            if attempt.provider_id is None:
                moved = Attempt(**{**moved.__dict__, "provider_id": report.provider_id})
            if moved == attempt:
                return cur
            settled = lifecycle.settle(cur.replace_attempt(index, moved))
            nxt = self._reserve_fallback(settled)
            changed_now.update(changed=True, fallback=nxt is not settled)
            return nxt

        v = self._update(v, apply)
        if not changed_now["changed"]:
            event("status.ignored", v, provider=provider, raw=report.raw, attempt=index)
            return
        event("status.updated", v, provider=provider, status=report.status, raw=report.raw, attempt=index)
        if changed_now["fallback"]:
            event("verification.fallback", v, channel="call")
            self._deliver(v, self.vault.open(v.id, v.sealed), quiet=True)

    def voice_script(self, provider: str, verification_id: str, index: int) -> VoiceScript:
        """What to say when the call of attempt `index` is answered."""
        v = self.store.get(verification_id) if ID_PATTERN.match(verification_id) else None
        brand = self.settings.otp_brand
        if v is None:
            return VoiceScript("en", brand)
        if not v.pending or _attempt_at(v, index, provider, Channel.CALL) is None:
            return VoiceScript(v.locale, brand)
        event("call.answered", v, provider=provider, attempt=index)
        return VoiceScript(v.locale, brand, tuple(self.vault.open(v.id, v.sealed)))

    # --- internals ---------------------------------------------------------------------------

    def _known(self, verification_id: str) -> str:
        if not ID_PATTERN.match(verification_id):
            raise NotFound("No such verification, or it has expired.")
        return verification_id

    def _check(self, vid: str, code: str, *, by_number: bool) -> tuple[Verification, bool]:
        outcome, v = self.store.check(vid, self.vault.candidate_macs(vid, code))
        if outcome is CheckOutcome.MISSING or (by_number and outcome is CheckOutcome.NOT_PENDING):
            raise NotFound("No pending verification found.")
        assert v is not None
        if outcome is CheckOutcome.NOT_PENDING:
            raise NotPending(f"The verification is {v.status}.")
        if outcome is CheckOutcome.MAX_ATTEMPTS:
            raise MaxAttempts("Too many wrong codes; start a new verification.")
        event("verification.checked", v, valid=outcome is CheckOutcome.APPROVED, checks_left=v.checks_left)
        return v, outcome is CheckOutcome.APPROVED

    def _update(self, v: Verification, change: Callable[[Verification], Verification]) -> Verification:
        """Apply `change` and compare-and-set; on a conflict reload and apply again."""
        for _ in range(SAVE_RETRIES):
            changed = change(v)
            if changed is v:
                return v
            saved = self.store.save(changed)
            if saved is not None:
                return saved
            reloaded = self.store.get(v.id)
            if reloaded is None:
                raise NotFound("The verification expired.")
            v = reloaded
        raise StoreUnavailable("The verification is too busy; try again.")

    def _deliver(self, v: Verification, code: str, *, quiet: bool = False) -> Verification:
        """Carry the newest (reserved) send through the channel's providers, in failover order."""
        send = v.attempts[-1]
        chain = self._chains[send.channel]
        for position, provider in enumerate(chain):
            if position > 0:
                if not v.pending:
                    break
                v = self._update(v, lambda cur, p=provider: _add_attempt(cur, send, p.name, self.clock()))
            index = len(v.attempts) - 1
            try:
                provider_id = self._send(provider, v, code, index)
            except ProviderError as exc:
                event("send.failed", v, provider=provider.name, channel=send.channel, error=str(exc))
                v = self._update(v, lambda cur, i=index, e=exc: _mark_failed(cur, i, e))
                if not exc.transient:
                    break
                continue
            v = self._update(v, lambda cur, i=index, pid=provider_id: _mark_sent(cur, i, pid))
            event("send.accepted", v, provider=provider.name, channel=send.channel, provider_id=provider_id)
            return v
        if self._fallback_due(v):
            v = self._update(v, self._reserve_fallback)
            event("verification.fallback", v, channel="call")
            return self._deliver(v, code, quiet=quiet)
        if quiet:
            return v
        raise ProviderFailed("Every provider for this channel failed; try again later.")

    def _send(self, provider: Provider, v: Verification, code: str, index: int) -> str:
        base = self.settings.public_base_url
        if v.attempts[index].channel == Channel.SMS:
            body = sms_body(v.locale, brand=self.settings.otp_brand, code=code, ttl=self.settings.otp_ttl)
            return provider.send_sms(v.to, body, status_url=status_url(base, provider.name, "message", v.id, index))
        return provider.place_call(
            v.to,
            answer_url=answer_url(base, provider.name, v.id, index),
            status_url=status_url(base, provider.name, "call", v.id, index),
        )

    def _fallback_due(self, v: Verification) -> bool:
        """Under `auto`: the SMS send failed, no call was tried yet, and a send is left."""
        if v.mode != "auto" or not v.pending or v.extra.get("fallback") or v.sends_left == 0:
            return False
        newest = [a for a in v.attempts if a.send_no == v.attempts[-1].send_no]
        return newest[0].channel == Channel.SMS and all(a.status in lifecycle.FAILED for a in newest)

    def _reserve_fallback(self, cur: Verification) -> Verification:
        if not self._fallback_due(cur):
            return cur
        nxt = _reserve(cur, Channel.CALL, self._chains[Channel.CALL][0].name, self.clock())
        return nxt.with_changes(extra={**nxt.extra, "fallback": True})

    def _resend_wait(self, v: Verification, channel: str, now: float) -> int:
        """Seconds before `channel` may be used again: the cooldown doubles with each send on it."""
        reached = [a for a in v.attempts if a.channel == channel and a.provider_id is not None]
        if not reached:
            return 0  # the first switch to the other channel is never delayed
        sends = len({a.send_no for a in reached})
        cooldown = self.settings.otp_resend_cooldown * 2 ** (sends - 1)
        return _until(max(a.at for a in reached) + cooldown, now)


def _code(code: object) -> str:
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or not 4 <= len(code) <= 10:
        raise InvalidRequest("`code` must be a string of 4 to 10 digits")
    return code


def _until(moment: float, now: float) -> int:
    return max(0, math.ceil(moment - now))


def _attempt_at(v: Verification, index: int, provider: str, channel: str) -> Attempt | None:
    if not 0 <= index < len(v.attempts):
        return None
    attempt = v.attempts[index]
    return attempt if attempt.provider == provider and attempt.channel == channel else None


def _reserve(v: Verification, channel: str, provider: str, now: float) -> Verification:
    """Append the first attempt of a new send."""
    send_no = max((a.send_no for a in v.attempts), default=0) + 1
    return v.with_changes(attempts=(*v.attempts, Attempt(send_no, channel, provider, "queued", now)))


def _add_attempt(v: Verification, send: Attempt, provider: str, now: float) -> Verification:
    """Append a failover attempt of the same send (it does not count as another send)."""
    return v.with_changes(attempts=(*v.attempts, Attempt(send.send_no, send.channel, provider, "queued", now)))


def _mark_failed(v: Verification, index: int, exc: ProviderError) -> Verification:
    attempt = v.attempts[index]
    failed = Attempt(**{**attempt.__dict__, "status": "failed", "error": str(exc)[:200]})
    return lifecycle.settle(v.replace_attempt(index, failed))


def _mark_sent(v: Verification, index: int, provider_id: str) -> Verification:
    attempt = v.attempts[index]
    if attempt.provider_id == provider_id:
        return v
    return v.replace_attempt(index, Attempt(**{**attempt.__dict__, "provider_id": provider_id}))
