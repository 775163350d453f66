"""The verification service: what the API, the demo and the carrier webhooks ask of the domain.

Every change follows one pattern: load, apply a pure rule (`lifecycle`), compare-and-set save,
then act (talk to a provider). A send is written down as a `queued` attempt before the provider
is called, so a callback that beats our own bookkeeping still finds it, and a crash mid-send
leaves a record rather than an unrecorded SMS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from telephony.codes import CodeVault, new_code
from telephony.config import Settings
from telephony.errors import (
    InvalidPhone,
    InvalidRequest,
    LandlineRefused,
    MaxAttempts,
    NotFound,
    NotPending,
    OptedOut,
    ProviderError,
    ProviderFailed,
    PumpingBlocked,
    RateLimited,
    ServiceError,
    StoreUnavailable,
)
from telephony.eventlog import transition_event
from telephony.events import event
from telephony.lifecycle import (
    FAILED,
    Approve,
    Cancel,
    CheckOutcome,
    Context,
    Deliver,
    Event,
    FallbackTimer,
    Receipt,
    Resend,
    ScheduleFallback,
    SendAccepted,
    SendFailed,
    Step,
    first_send,
    step,
)
from telephony.limits import (
    Admission,
    CheckPolicy,
    Counter,
    Create,
    Origin,
    Outcome,
    Rule,
    Save,
    SendPlan,
    Write,
    check_destination,
)
from telephony.models import (
    ID_PATTERN,
    PURPOSES,
    Attempt,
    Channel,
    Mode,
    SendStatus,
    Status,
    Verification,
    pending_scope,
)
from telephony.phone import InvalidPhoneNumber, mask, parse_e164, region_of
from telephony.providers import Provider, StatusReport
from telephony.providers.fixed import NAME as TEST_PROVIDER
from telephony.services import Service
from telephony.store import Store
from telephony.urls import answer_url, status_url
from telephony.wording import LOCALES, locale_for, payment_line, sms_body

SAVE_RETRIES = 20


VOICE_REPEATS = 3  # "press 1 to repeat" is offered this many times after the first reading


@dataclass(frozen=True)
class VoiceScript:
    """What an answer URL should say: the digits, or that the code is gone."""

    locale: str
    brand: str
    available: bool = False
    digits: tuple[str, ...] = ()
    press_key: bool | None = None  # the verification's own press-a-key gate (None: the environment's)
    payment: str = ""  # PSD2: said before the code
    purpose: str = "login"  # names the code ("your password reset code is")


@dataclass(frozen=True)
class StartOptions:
    """What a start through /v2 adds: its service's settings and Twilio's per-start parameters."""

    service: Service | None = None
    custom_code: str | None = None  # the application's own code (the service allows it)
    amount: str = ""  # PSD2: said in the messages, and a check must name the same
    payee: str = ""
    brand: str = ""  # CustomFriendlyName: this start's brand instead of the service's
    app_hash: str = ""
    # (rate limit SID, the value it counts, max, interval s) for each bucket a `RateLimits` names
    rate_limits: tuple[tuple[str, str, int, int], ...] = ()


NO_OPTIONS = StartOptions()


@dataclass(frozen=True)
class Sent:
    """What a provider answered one attempt: its id, or the error and the provider to try next."""

    provider_id: str | None
    error: str = ""
    next_provider: str | None = None


class VerificationService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        providers: dict[str, Provider],
        vault: CodeVault,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self.vault = vault
        self.clock = clock or store.now  # one clock: the store's, unless a test drives time by hand
        self._chains = {
            Channel.SMS: [providers[n] for n in settings.sms_providers],
            Channel.CALL: [providers[n] for n in settings.voice_providers],
        }

    # --- the API -------------------------------------------------------------------------

    def start(
        self, to: str, mode: str = "sms", locale: str | None = None, origin: Origin | None = None,
        purpose: str = "login",
    ) -> Verification:  # fmt: skip
        return self.start_or_resend(to, mode, locale, origin, purpose=purpose)[0]

    def start_or_resend(
        self, to: str, mode: str = "sms", locale: str | None = None, origin: Origin | None = None,
        *, options: StartOptions = NO_OPTIONS, purpose: str = "login",
    ) -> tuple[Verification, bool]:  # fmt: skip
        """A new verification (True), or the number's pending one sent again (False): a user who
        asks twice then gets the same code twice, as Twilio Verify does, and whichever message
        arrives first works. The repeat is a resend (cooldown, send limits) counted for `origin`."""
        number = self.parse_number(to)
        if mode not in tuple(Mode):
            raise InvalidRequest("channel must be sms, call or auto")
        if locale is not None and locale not in LOCALES:
            raise InvalidRequest(f"locale must be one of {', '.join(LOCALES)}")
        purpose = parse_purpose(purpose)
        # A test number is sent nothing, so no destination rule (toll fraud) applies: Twilio's magic
        # +15005550006 is in a personal-number range.
        landline = number not in self.settings.test_numbers and self.destination(number) == "fixed_line"
        svc = options.service
        if landline and svc is not None and svc.skip_sms_to_landlines and mode == Mode.SMS:
            raise LandlineRefused("This number is a landline, which takes no SMS; use a call.")
        pending = self._pending_for(number, pending_scope(svc.sid if svc else "", purpose))
        if pending is not None:
            channel = Channel(mode) if mode in tuple(Channel) else None
            return self._resend(pending, channel, origin, options), False
        return self._create(number, Mode(mode), locale, origin, options, landline=landline, purpose=purpose), True

    def _pending_for(self, number: str, scope: str = "") -> Verification | None:
        vid = self.store.latest_for(number, scope)
        v = self.store.get(vid) if vid else None
        return v if v is not None and v.pending else None

    def _create(
        self, number: str, mode: Mode, locale: str | None, origin: Origin | None, options: StartOptions, *,
        landline: bool, purpose: str = "login",
    ) -> Verification:  # fmt: skip
        now = round(self.clock(), 3)  # milliseconds, as the store keeps them
        vid = self.store.names.new_verification_id(number, short=options.service is not None)
        svc = options.service
        test_code = self.settings.test_numbers.get(number)
        code = test_code or options.custom_code or new_code(svc.code_length if svc else self.settings.otp_length)
        mac, sealed = self.vault.seal(vid, code, (options.amount, options.payee))
        v = Verification(
            id=vid, to=number, mode=mode, locale=locale or locale_for(number),
            status=Status.PENDING, checks_left=self.settings.otp_max_checks,
            max_sends=self.settings.otp_max_sends, created_at=now,
            expires_at=now + self.settings.otp_ttl, mac=mac, sealed=sealed,
            service=svc.sid if svc else "", brand=options.brand or (svc.friendly_name if svc else ""),
            amount=options.amount, payee=options.payee, app_hash=options.app_hash,
            press_key=svc.dtmf_input_required if svc else None, purpose=purpose, test=bool(test_code),
        )  # fmt: skip
        if test_code:  # nothing is sent to it, and it says so in the log (OTP_TEST_NUMBERS)
            event("verification.test_number", v, purpose=purpose)
        first = first_send(v, self._context(number), landline=landline)
        admission = self._admit(first.verification, origin, Create(first.verification), options)
        if admission.outcome == Outcome.OPTED_OUT and mode == Mode.AUTO:  # rare: learn it, then call instead
            first = first_send(v, self._context(number, opted_out=True), landline=landline)
            admission = self._admit(first.verification, origin, Create(first.verification), options)
        self.refuse_unless_admitted(admission, number)
        assert admission.verification is not None
        created = Step(admission.verification, first.actions)
        event("verification.started", created.verification, mode=mode, locale=v.locale)
        return self._delivered(self._act(created))

    def get(self, verification_id: str) -> Verification:
        v = self.store.get(self._known(verification_id))
        if v is None:
            raise NotFound("No such verification, or it has expired.")
        return v

    def check(
        self, verification_id: str, code: object, *, scope: str | None = None, binding: tuple[str, str] = ("", ""),
        purpose: str | None = None,
    ) -> tuple[Verification, bool]:  # fmt: skip
        """Check a code. `scope`: through /v2, the service the verification must belong to;
        `binding`: the amount and payee a PSD2 start bound the code to; `purpose`, when named: the
        one the verification must have (another purpose's code is as good as no verification)."""
        vid = self._known(verification_id)
        wanted = parse_purpose(purpose) if purpose is not None else None
        return self._check(vid, parse_code(code), by_number=False, scope=scope, binding=binding, purpose=wanted)

    def check_by_number(
        self, to: str, code: object, *, scope: str | None = None, binding: tuple[str, str] = ("", ""),
        purpose: str = "login",
    ) -> tuple[Verification, bool]:  # fmt: skip
        """Check a code against the number's pending verification of `purpose` (in /v2: of the
        service `scope`), and only that one."""
        candidate = parse_code(code)
        purpose = parse_purpose(purpose)
        vid = self.store.latest_for(self.parse_number(to), pending_scope(scope or "", purpose))
        if vid is None:
            raise NotFound("No pending verification for this number.")
        return self._check(vid, candidate, by_number=True, scope=scope, binding=binding, purpose=purpose)

    def resend(self, verification_id: str, channel: str | None = None) -> Verification:
        """Send the code again. The new send is reserved in the same atomic store step that checks
        the cooldown and the limits and counts it, so of concurrent resends one goes out."""
        if channel is not None and channel not in tuple(Channel):
            raise InvalidRequest("channel must be sms or call")
        return self._resend(self.get(verification_id), Channel(channel) if channel else None, None)

    def _resend(
        self, v: Verification, channel: Channel | None, origin: Origin | None, options: StartOptions = NO_OPTIONS
    ) -> Verification:
        for _ in range(SAVE_RETRIES):
            wanted = channel or v.channel
            result = step(v, Resend(wanted), self._context(v.to))  # raises on a cooldown or a closed verification
            admission = self._admit(result.verification, origin, Save(result.verification, v), options)
            if admission.outcome == Outcome.CONFLICT:
                v = self.get(v.id)
                continue
            if admission.outcome == Outcome.MISSING:
                raise NotFound("No such verification, or it has expired.")
            self.refuse_unless_admitted(admission, v.to)
            assert admission.verification is not None
            event("verification.resend", admission.verification, channel=wanted)
            return self._delivered(self._act(Step(admission.verification, result.actions)))
        raise StoreUnavailable("The verification is too busy; try again.")

    def cancel(self, verification_id: str) -> Verification:
        v = self._apply(self.get(verification_id), Cancel()).verification
        event("verification.canceled", v)
        return v

    def approve(self, verification_id: str) -> Verification:
        """The application approves the verification itself (Twilio's `Status=approved`)."""
        v = self._apply(self.get(verification_id), Approve()).verification
        event("verification.approved_by_application", v)
        return v

    def destination(self, number: str) -> str:
        """The number's line type for channel choice; refuses countries and ranges we never send to."""
        return check_destination(number, self.settings.allowed_countries, self.settings.allowed_number_types)

    def may_reply(self, number: str) -> bool:
        """Whether a keyword reply may go to `number`: the destination rules of every send, and a
        limit of its own per number (a reply costs as much as a code, and anyone can ask for one)."""
        try:
            self.destination(number)
        except ServiceError as exc:
            event("reply.refused", reason=exc.code, to=mask(number))
            return False
        plan = SendPlan(number, self.settings.limit_replies, (), (), None, check_opt_out=False, kind="r")
        admission = self.store.admit(plan)
        if not admission.ok:
            event("reply.refused", reason=admission.outcome, to=mask(number), retry_after=admission.retry_after)
        return admission.ok

    def parse_number(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidRequest("`to` must be a string holding a phone number")
        region = self.settings.default_region
        try:
            return parse_e164(raw, region)
        except InvalidPhoneNumber:
            national = f", or a {region} number without it" if region else ""
            raise InvalidPhone(
                f"`to` is not a valid phone number; give it with its + and country code, e.g. +14155550100{national}."
            ) from None

    # --- carriers --------------------------------------------------------------------------

    def on_status(self, provider: str, channel: str, verification_id: str, index: int, report: StatusReport) -> None:
        """Apply a delivery receipt or call status; duplicates and regressions change nothing.

        Like every other event: load, step the pure rules, compare-and-set save, then act (a
        failure of a pending verification may settle it or place the fallback call).
        """
        status = SendStatus(report.status) if report.status else None
        receipt = Receipt(index, provider, Channel(channel), report.provider_id, status, report.raw)
        fields: dict[str, Any] = {"provider": provider, "raw": report.raw, "attempt": index}
        v = self.store.get(verification_id) if ID_PATTERN.match(verification_id) else None
        if v is None:
            event("status.unknown_verification", provider=provider, verification=verification_id[:40])
            return
        try:
            result = self._apply(v, receipt)
        except NotFound:  # it expired between the read and the save
            event("status.unknown_verification", provider=provider, verification=verification_id)
            return
        if not result.changed:
            event("status.ignored", result.verification, why=result.note.replace(" ", "_"), **fields)
            return
        event("status.updated", result.verification, status=report.status or "unknown", **fields)
        self._act(result)

    def send_reply(self, provider: Provider, to: str, text: str) -> None:
        """Answer an inbound SMS through the API, for providers that take no reply markup."""
        try:
            provider.send_sms(to, text, status_url=None)
        except ProviderError as exc:
            event("sms.reply_failed", provider=provider.name, error=str(exc))

    def fire_due_timers(self, limit: int = 100) -> int:
        """Run the fallback timers that are due (claimed atomically: each fires once)."""
        due = self.store.claim_due(self.clock(), limit)
        for vid in due:
            v = self.store.get(vid)
            if v is None:
                continue
            result = self._apply(v, FallbackTimer())
            event("timer.fired", result.verification, outcome=result.note.replace(" ", "_") or "call")
            self._act(result)
        return len(due)

    def voice_script(self, provider: str, verification_id: str, index: int, *, speak: bool = True) -> VoiceScript:
        """What to say when the call of attempt `index` is answered (`speak`: the code itself).

        The code is spoken only to the verification's newest call, while it is pending, and at
        most 1 + VOICE_REPEATS times per call placed: a replayed answer request gets a goodbye.
        """
        brand = self.settings.otp_brand
        if not ID_PATTERN.match(verification_id):
            return VoiceScript("en", brand)
        v, plays = self.store.play(verification_id) if speak else (self.store.get(verification_id), 0)
        if v is None:
            return VoiceScript("en", brand)
        calls = [i for i, a in enumerate(v.attempts) if a.channel == Channel.CALL]
        newest = bool(calls) and calls[-1] == index and v.attempts[index].provider == provider
        brand = v.brand or brand
        if not v.pending or not newest:
            return VoiceScript(v.locale, brand)
        sends = len({v.attempts[i].send_no for i in calls})
        if plays > (1 + VOICE_REPEATS) * sends:
            event("call.replay_refused", v, provider=provider, attempt=index, plays=plays)
            return VoiceScript(v.locale, brand)
        if not speak:
            return VoiceScript(v.locale, brand, available=True, press_key=v.press_key)
        event("call.spoken", v, provider=provider, attempt=index, plays=plays)
        digits = tuple(self.vault.open(v.id, v.sealed))
        payment = payment_line(v.locale, v.amount, v.payee)
        return VoiceScript(v.locale, brand, available=True, digits=digits, press_key=v.press_key, payment=payment,
                           purpose=v.purpose)  # fmt: skip

    def voice_preview(self, verification_id: str) -> VoiceScript:
        """What the newest call says, without counting a playing (the development outbox only)."""
        v = self.store.get(verification_id) if ID_PATTERN.match(verification_id) else None
        if v is None or not v.pending:
            return VoiceScript(v.locale if v else "en", (v.brand if v else "") or self.settings.otp_brand)
        digits = tuple(self.vault.open(v.id, v.sealed))
        return VoiceScript(v.locale, v.brand or self.settings.otp_brand, available=True, digits=digits,
                           payment=payment_line(v.locale, v.amount, v.payee), purpose=v.purpose)  # fmt: skip

    # --- internals ---------------------------------------------------------------------------

    def _known(self, verification_id: str) -> str:
        if not ID_PATTERN.match(verification_id):
            raise NotFound("No such verification, or it has expired.")
        return verification_id

    def _check(
        self, vid: str, code: str, *, by_number: bool, scope: str | None = None, binding: tuple[str, str] = ("", ""),
        purpose: str | None = None,
    ) -> tuple[Verification, bool]:  # fmt: skip
        pumping = self.settings.pumping
        policy = CheckPolicy(self.settings.limit_checks, pumping.window if pumping else None, scope, purpose)
        outcome, v = self.store.check(vid, self.vault.candidate_macs(vid, code, binding), policy)
        if outcome is CheckOutcome.LOCKED:
            assert v is not None and self.settings.limit_checks is not None
            event("verification.locked", v)
            raise RateLimited(
                "Too many wrong codes for this number; try again later.",
                retry_after=self.settings.limit_checks.window,
            )
        if outcome is CheckOutcome.MISSING or (by_number and outcome is CheckOutcome.NOT_PENDING):
            raise NotFound("No pending verification found.")
        assert v is not None
        if outcome is CheckOutcome.NOT_PENDING:
            raise NotPending(f"The verification is {v.status}.")
        if outcome is CheckOutcome.MAX_ATTEMPTS:
            raise MaxAttempts("Too many wrong codes; start a new verification.")
        if outcome is CheckOutcome.OTHER_PURPOSE:  # a signup code in a reset check: not valid, whatever it is
            event("verification.checked", v, valid=False, reason="other_purpose")
            return v, False
        event("verification.checked", v, valid=outcome is CheckOutcome.APPROVED, checks_left=v.checks_left)
        return v, outcome is CheckOutcome.APPROVED

    def _context(self, number: str = "", *, opted_out: bool = False) -> Context:
        """The rules' inputs; a test number (OTP_TEST_NUMBERS) is served by the `test` provider, which sends nothing."""
        test = number in self.settings.test_numbers
        return Context(
            now=self.clock(),
            sms_provider=TEST_PROVIDER if test else self.settings.sms_providers[0],
            voice_provider=TEST_PROVIDER if test else self.settings.voice_providers[0],
            resend_cooldown=self.settings.otp_resend_cooldown,
            fallback_after=self.settings.otp_fallback_after,
            sms_opted_out=opted_out,
        )

    def _admit(
        self, v: Verification, origin: Origin | None, write: Write, options: StartOptions = NO_OPTIONS
    ) -> Admission:
        return self.admit_send(v.to, v.attempts[-1].channel, origin, write, options)

    def admit_send(
        self, number: str, channel: Channel, origin: Origin | None, write: Write, options: StartOptions = NO_OPTIONS,
        *, notice: bool = False,
    ) -> Admission:  # fmt: skip
        """Count a send to `number` against every limit (and a /v2 start's rate-limit buckets) and
        make `write` with it, or refuse and change nothing. Approval requests are sends too.

        A `notice` is counted per number against OTP_LIMIT_NOTICES instead of OTP_LIMIT_NUMBER (an
        account's notices must not use up its codes, nor codes its notices), and stays out of the
        SMS-pumping statistics (no code follows it to be approved), while the prefix, country, IP
        and API key limits, a prefix's pumping block and opt-outs hold as for every send."""
        s, names = self.settings, self.store.names
        others = [Counter(names.client("country", region_of(number) or "ZZ"), rule) for rule in s.limit_country]
        others += [
            Counter(names.client(f"rl-{sid}", value), Rule(limit, interval))
            for sid, value, limit, interval in options.rate_limits
        ]
        if origin and origin.ip:
            others += [Counter(names.client("ip", origin.ip), rule) for rule in s.limit_ip]
        if origin and origin.api_key:
            others += [Counter(names.client("key", origin.api_key), rule) for rule in s.limit_api_key]
        sms = channel == Channel.SMS
        pumping = None if number in s.test_numbers else s.pumping  # its sends are no prefix's traffic
        plan = SendPlan(number, s.limit_number, s.limit_prefix, tuple(others), pumping, check_opt_out=sms)
        if notice:
            plan = replace(plan, number_rules=s.limit_notices, pumping=None, kind="t")
        return self.store.admit(plan, write)

    def refuse_unless_admitted(self, admission: Admission, number: str, what: str = "codes") -> None:
        if admission.outcome == Outcome.OPTED_OUT:
            raise OptedOut("This number replied STOP; it gets no SMS until it replies START.")
        if not admission.ok:
            level = logging.WARNING if admission.outcome == Outcome.PUMPING else logging.INFO
            event("send.refused", None, level=level, reason=admission.outcome, to=mask(number),
                  retry_after=admission.retry_after)  # fmt: skip
            refusal = PumpingBlocked if admission.outcome == Outcome.PUMPING else RateLimited
            raise refusal(f"Too many {what} sent; try again later.", retry_after=admission.retry_after)

    def _apply(self, v: Verification, change: Event) -> Step:
        """Step on the freshest copy and compare-and-set; on a conflict reload and step again."""
        for _ in range(SAVE_RETRIES):
            result = step(v, change, self._context(v.to))
            if not result.changed:
                return result
            made = transition_event(v.status, result.verification.status)
            saved = self.store.save(result.verification, previous=v, event=made)
            if saved is not None:
                if saved.fell_back and not v.fell_back:
                    event("verification.fallback", saved, trigger=type(change).__name__)
                return Step(saved, result.actions)
            reloaded = self.store.get(v.id)
            if reloaded is None:
                raise NotFound("The verification expired.")
            v = reloaded
        raise StoreUnavailable("The verification is too busy; try again.")

    def _act(self, result: Step) -> Verification:
        """Carry out a step's actions; a send may lead to a failover or a fallback, and so on."""
        v = result.verification
        for action in result.actions:
            if isinstance(action, ScheduleFallback):
                self.store.schedule(v.id, action.at)
            elif isinstance(action, Deliver):
                v = self._deliver(v, action.index)
        return v

    def failover(self, channel: Channel, provider: str, exc: ProviderError) -> str | None:
        """The provider to try after `provider` refused a send: the next in the channel's chain,
        when the error is transient (an outage, not a bad number)."""
        chain = [p.name for p in self._chains[channel]]
        if provider not in chain:
            return None  # the test numbers' provider: it never fails
        position = chain.index(provider)
        return chain[position + 1] if exc.transient and position + 1 < len(chain) else None

    def _deliver(self, v: Verification, index: int) -> Verification:
        text = self._sms_text(v) if v.attempts[index].channel == Channel.SMS else ""
        sent = self.send_attempt(v.attempts[index], v.to, v.id, index, text, about=v)
        if sent.provider_id is None:
            return self._act(self._apply(v, SendFailed(index, sent.error, sent.next_provider)))
        return self._act(self._apply(v, SendAccepted(index, sent.provider_id)))

    def send_attempt(
        self, attempt: Attempt, to: str, resource_id: str, index: int, text: str, *, about: Verification | None = None
    ) -> Sent:
        """Hand attempt `index` of a verification, approval or notice to its provider: an SMS of
        `text`, or a call whose answer URL names the resource; receipts come back to its status URL.
        A refusal says which provider of the channel's chain to try next (a transient failure)."""
        provider = self.providers[attempt.provider]
        base = self.settings.public_base_url
        named: dict[str, Any] = {} if about is not None else {"resource": resource_id, "to": mask(to)}
        try:
            if attempt.channel == Channel.SMS:
                receipts = status_url(base, provider.name, "message", resource_id, index)
                provider_id = provider.send_sms(to, text, status_url=receipts)
            else:
                provider_id = provider.place_call(
                    to, answer_url=answer_url(base, provider.name, resource_id, index),
                    status_url=status_url(base, provider.name, "call", resource_id, index),
                )  # fmt: skip
        except ProviderError as exc:
            event("send.failed", about, provider=provider.name, channel=attempt.channel, error=str(exc), **named)
            return Sent(None, str(exc), self.failover(attempt.channel, provider.name, exc))
        event("send.accepted", about, provider=provider.name, channel=attempt.channel, provider_id=provider_id, **named)
        return Sent(provider_id)

    def _delivered(self, v: Verification) -> Verification:
        """The API's answer after a send: 502 when every attempt of the newest send failed, with
        the verification, which stays usable: the caller may resend (another channel) or cancel it."""
        newest = [a for a in v.attempts if a.send_no == v.attempts[-1].send_no]
        if all(a.status in FAILED and a.error for a in newest):
            raise ProviderFailed("Every provider for this channel failed; try again later.", verification=v)
        return v

    def _sms_text(self, v: Verification) -> str:
        s = self.settings
        return sms_body(
            v.locale, brand=v.brand or s.otp_brand, code=self.vault.open(v.id, v.sealed), ttl=s.otp_ttl,
            webotp_domain=s.webotp_domain, amount=v.amount, payee=v.payee, app_hash=v.app_hash, purpose=v.purpose,
        )  # fmt: skip


def parse_purpose(purpose: object) -> str:
    if purpose not in PURPOSES:
        raise InvalidRequest(f"`purpose` must be one of {', '.join(PURPOSES)}")
    return str(purpose)


def parse_code(code: object) -> str:
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or not 4 <= len(code) <= 10:
        raise InvalidRequest("`code` must be a string of 4 to 10 digits")
    return code
