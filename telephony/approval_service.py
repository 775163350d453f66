"""Approval requests: what the API, inbound SMS and the answer URLs ask of them.

Built on the verification service's parts rather than beside them: its providers and their
failover, its limits (an approval's send is counted as any send, atomically with its creation),
its opt-outs and destination rules, the store's compare-and-set with the event written in the
same step, and the worker's expiry events. The rules of the request itself are `approvals.py`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telephony.approval_wording import approval_reply, approval_sms
from telephony.approvals import (
    APPROVAL_ID,
    WRONG_REFERENCES,
    Answer,
    Approval,
    ApprovalEvent,
    ApprovalStep,
    Cancel,
    SendResult,
    TooManyWrongReferences,
    first_attempt,
    step,
)
from telephony.errors import InvalidRequest, NotFound, ProviderFailed, StoreUnavailable
from telephony.events import event
from telephony.limits import CreateApproval, Origin, Rule, SendPlan
from telephony.models import Attempt, Channel, SendStatus
from telephony.phone import mask
from telephony.providers import StatusReport
from telephony.service import SAVE_RETRIES, VerificationService
from telephony.wording import LOCALES, locale_for

MESSAGE_MAX, DETAILS_MAX, DETAIL_KEY_MAX, DETAIL_VALUE_MAX, HIDDEN_MAX = 160, 10, 20, 64, 1024
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # what the phone would show as garbage, or a line break
EXPIRES_IN = (30, 3600, 300)  # seconds: least, most, default
MENU_REPEATS = 2  # the call's question is asked again at most this many times


@dataclass(frozen=True)
class ApprovalScript:
    """What the approval's call says: the brand and message, then the keypad question."""

    locale: str
    brand: str
    message: str = ""
    details: tuple[tuple[str, str], ...] = ()
    available: bool = False  # False: the request is answered, expired or not this call's


class ApprovalService:
    def __init__(self, verification: VerificationService) -> None:
        self.codes = verification  # its settings, store, providers, limits and destination rules
        self.settings, self.store = verification.settings, verification.store

    # --- the API ---------------------------------------------------------------------------------

    def start(
        self, to: object, message: object, *, details: object = None, hidden_details: object = None,
        channel: object = "sms", expires_in: object = None, locale: object = None, origin: Origin | None = None,
    ) -> Approval:  # fmt: skip
        number = self.codes.parse_number(to)
        checked = _request(message, details, hidden_details, channel, expires_in, locale)
        self.codes.destination(number)  # raises for countries and number ranges never sent to
        now = round(self.codes.clock(), 3)
        chan = Channel(checked["channel"])
        provider = (self.settings.sms_providers if chan == Channel.SMS else self.settings.voice_providers)[0]
        approval = Approval(
            id=self.store.names.new_approval_id(number), to=number, channel=chan,
            locale=checked["locale"] or locale_for(number), message=checked["message"],
            reference=f"{secrets.randbelow(10_000):04d}", created_at=now, expires_at=now + checked["expires_in"],
            details=checked["details"], hidden_details=checked["hidden_details"], brand=self.settings.otp_brand,
            attempts=(first_attempt(chan, provider, now),),
        )  # fmt: skip
        admission = self.codes.admit_send(number, chan, origin, CreateApproval(approval))
        self.codes.refuse_unless_admitted(admission, number)
        assert admission.approval is not None
        event("approval.started", None, approval=approval.id, to=mask(number), channel=chan)
        sent = self._deliver(admission.approval, 0)
        if all(a.status == SendStatus.FAILED for a in sent.attempts):
            raise ProviderFailed("Every provider for this channel failed; try again later.", approval=sent)
        return sent

    def get(self, approval_id: str) -> Approval:
        a = self.store.approval_get(approval_id) if APPROVAL_ID.match(approval_id) else None
        if a is None:
            raise NotFound("No such approval request, or it expired a day ago.")
        return a

    def cancel(self, approval_id: str) -> Approval:
        return self._apply(self.get(approval_id), Cancel()).approval

    # --- the phone's answers --------------------------------------------------------------------

    def on_reply(self, number: str, approve: bool, reference: str, locale: str) -> str:
        """An SMS reply `YES 4821` / `NO 4821`: the text to answer it with."""
        brand = self.settings.otp_brand
        kept = self.store.approvals_for(number)
        named = sorted((a for a in kept if a.reference == reference), key=lambda a: not a.pending)
        if not named:
            self._wrong_reference(number, [a for a in kept if a.pending])
            return approval_reply(locale, "unknown", brand=brand)
        result = self._apply(named[0], Answer(approve, Channel.SMS))
        return self._answered_reply(result)

    def on_keypress(self, provider: str, approval_id: str, index: int, digits: str) -> str | None:
        """A key pressed on the approval's call: `approved`, `denied` or `closed` (already answered,
        expired or another call's), or None when the key answers nothing (ask again)."""
        if digits not in ("1", "2"):
            return None
        a = self.store.approval_get(approval_id) if APPROVAL_ID.match(approval_id) else None
        if a is None or not self._newest_call(a, provider, index):
            return "closed"
        result = self._apply(a, Answer(digits == "1", Channel.CALL))
        return str(result.approval.status) if result.changed else "closed"

    def voice_script(self, provider: str, approval_id: str, index: int) -> ApprovalScript:
        a = self.store.approval_get(approval_id) if APPROVAL_ID.match(approval_id) else None
        if a is None:
            return ApprovalScript("en", self.settings.otp_brand)
        if not a.pending or self.codes.clock() >= a.expires_at or not self._newest_call(a, provider, index):
            return ApprovalScript(a.locale, a.brand or self.settings.otp_brand)
        return ApprovalScript(a.locale, a.brand or self.settings.otp_brand, a.message, tuple(a.details.items()), True)

    def on_status(self, provider: str, channel: str, approval_id: str, index: int, report: StatusReport) -> None:
        """A delivery receipt or call status for the approval's send: recorded, nothing more."""
        a = self.store.approval_get(approval_id) if APPROVAL_ID.match(approval_id) else None
        if a is None or not 0 <= index < len(a.attempts) or a.attempts[index].provider != provider:
            event("status.unknown_approval", provider=provider, approval=approval_id[:40])
            return
        status = SendStatus(report.status) if report.status else None
        try:
            self._apply(a, SendResult(index, report.provider_id, status))
        except NotFound:
            return  # expired meanwhile: nothing to record

    # --- internals -------------------------------------------------------------------------------

    def _answered_reply(self, result: ApprovalStep) -> str:
        a, brand = result.approval, self.settings.otp_brand
        if not result.changed:
            return approval_reply(a.locale, "closed", brand=brand)
        return approval_reply(a.locale, str(a.status), brand=brand)

    def _wrong_reference(self, number: str, pending: list[Approval]) -> None:
        """Count a reply naming nothing pending; the fifth within an hour denies what is pending."""
        rule = Rule(WRONG_REFERENCES - 1, 3600)
        plan = SendPlan(number, (rule,), (), (), None, check_opt_out=False, kind="w")
        if self.store.admit(plan).ok:
            return
        for a in pending:
            self._apply(a, TooManyWrongReferences())
        event("approval.guessing", None, to=mask(number), denied=len(pending))

    def _newest_call(self, a: Approval, provider: str, index: int) -> bool:
        calls = [i for i, attempt in enumerate(a.attempts) if attempt.channel == Channel.CALL]
        return bool(calls) and calls[-1] == index and a.attempts[index].provider == provider

    def _apply(self, a: Approval, change: ApprovalEvent) -> ApprovalStep:
        """Step on the freshest copy and compare-and-set; on a conflict reload and step again."""
        for _ in range(SAVE_RETRIES):
            result = step(a, change, self.codes.clock())
            if not result.changed:
                return result
            saved = self.store.approval_save(result.approval, a, result.event)
            if saved is not None:
                if result.event:
                    event(result.event, None, approval=a.id, to=mask(a.to))
                return ApprovalStep(saved, event=result.event)
            reloaded = self.store.approval_get(a.id)
            if reloaded is None:
                raise NotFound("The approval request expired.")
            if reloaded.version == a.version:  # past its expiry: the store takes no change
                return ApprovalStep(reloaded, changed=False)
            a = reloaded
        raise StoreUnavailable("The approval request is too busy; try again.")

    def _deliver(self, a: Approval, index: int) -> Approval:
        """Send attempt `index`, failing over along the channel's providers as codes do."""
        attempt = a.attempts[index]
        text = ""
        if attempt.channel == Channel.SMS:
            text = approval_sms(a.locale, brand=a.brand or self.settings.otp_brand, message=a.message,
                                details=a.details, reference=a.reference)  # fmt: skip
        sent = self.codes.send_attempt(attempt, a.to, a.id, index, text)
        if sent.provider_id is not None:
            return self._apply(a, SendResult(index, sent.provider_id)).approval
        a = self._apply(a, SendResult(index, error=sent.error)).approval
        if sent.next_provider is None or not a.pending:
            return a
        now = round(self.codes.clock(), 3)
        retry = Attempt(attempt.send_no, attempt.channel, sent.next_provider, SendStatus.QUEUED, now)
        added = self._save_attempts(a, (*a.attempts, retry))
        return self._deliver(added, len(added.attempts) - 1)

    def _save_attempts(self, a: Approval, attempts: tuple[Attempt, ...]) -> Approval:
        saved = self.store.approval_save(a.with_changes(attempts=attempts), a)
        if saved is None:
            raise StoreUnavailable("The approval request changed while it was being sent; read it again.")
        return saved


def _request(
    message: object, details: object, hidden: object, channel: object, expires_in: object, locale: object
) -> dict[str, Any]:
    """The start's fields, checked against the contract's limits (InvalidRequest naming the field)."""
    if not isinstance(message, str) or not message.strip() or len(message) > MESSAGE_MAX or CONTROL.search(message):
        raise InvalidRequest(f"`message` must be 1 to {MESSAGE_MAX} characters, no control characters.")
    if channel not in ("sms", "call"):
        raise InvalidRequest("`channel` must be sms or call.")
    if locale is not None and locale not in LOCALES:
        raise InvalidRequest(f"`locale` must be one of {', '.join(LOCALES)}.")
    low, high, default = EXPIRES_IN
    if expires_in is None:
        expires_in = default
    if isinstance(expires_in, float) and expires_in.is_integer():
        expires_in = int(expires_in)  # JSON's 300.0 is the integer 300
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not low <= expires_in <= high:
        raise InvalidRequest(f"`expires_in` must be a whole number of seconds from {low} to {high}.")
    shown = _strings("details", {} if details is None else details)
    if len(shown) > DETAILS_MAX or any(
        not 0 < len(k) <= DETAIL_KEY_MAX or len(v) > DETAIL_VALUE_MAX or CONTROL.search(k + v) for k, v in shown.items()
    ):
        raise InvalidRequest(
            f"`details` takes at most {DETAILS_MAX} entries, keys of 1 to {DETAIL_KEY_MAX} and values of at "
            f"most {DETAIL_VALUE_MAX} characters, no control characters."
        )
    kept = _strings("hidden_details", {} if hidden is None else hidden)
    if len(json.dumps(kept, separators=(",", ":")).encode()) > HIDDEN_MAX:
        raise InvalidRequest(f"`hidden_details` must be at most {HIDDEN_MAX} bytes of JSON.")
    return {"message": message.strip(), "details": shown, "hidden_details": kept, "channel": channel,
            "expires_in": expires_in, "locale": locale}  # fmt: skip


def _strings(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidRequest(f"`{name}` must be a JSON object of strings.")
    return dict(value)
