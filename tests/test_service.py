"""Failover and fallback, specified on `VerificationService` itself: no Flask, no HTTP.

The service is built as `create_app` builds it, on the memory store and a clock the tests move,
with recording providers standing in for the carriers (they implement the Provider protocol,
keep every send they accepted and fail when told to). SMS go to twilio then plivo; calls to
plivo then twilio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from conftest import BASE_URL, TWILIO, Clock

from telephony.codes import CodeVault
from telephony.config import load_settings
from telephony.errors import ProviderError, ProviderFailed
from telephony.providers.base import InboundSms, StatusReport, WebhookRequest
from telephony.service import VerificationService
from telephony.store import MemoryStore

NUMBER = "+14155550100"
PLIVO = {"PLIVO_AUTH_ID": "MA" + "X" * 18, "PLIVO_AUTH_TOKEN": "plivo-test-auth-token", "PLIVO_FROM": "+14155550199"}
SETTINGS = {
    "APP_ENV": "test",
    "SECRET_KEY": "test-secret-key-0123456789",
    "PUBLIC_BASE_URL": BASE_URL,
    "SMS_PROVIDER": "twilio,plivo",
    "VOICE_PROVIDER": "plivo,twilio",
    "OTP_FALLBACK_AFTER": "60",
    **TWILIO,
    **PLIVO,
}


@dataclass(frozen=True)
class Sent:
    kind: str  # "sms" or "call"
    to: str
    body: str  # the SMS text; for a call, its answer URL
    provider_id: str


class RecordingProvider:
    """A carrier account that accepts every send and records it, or refuses it once told to fail."""

    dialect = "twiml"
    replies_inline = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Sent] = []
        self.refused = 0
        self._failure: ProviderError | None = None

    def fail(self, *, transient: bool = True) -> None:
        """From now on refuse each send: `transient` (a timeout, a 5xx) or permanent (a 4xx)."""
        self._failure = ProviderError(self.name, "told to fail", transient=transient)

    def send_sms(self, to: str, body: str, *, status_url: str) -> str:
        return self._record("sms", to, body)

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        return self._record("call", to, answer_url)

    def _record(self, kind: str, to: str, body: str) -> str:
        if self._failure is not None:
            self.refused += 1
            raise self._failure
        sent = Sent(kind, to, body, f"{self.name}-{kind}-{len(self.sent) + 1}")
        self.sent.append(sent)
        return sent.provider_id

    def recover(self) -> None:
        self._failure = None

    def kinds(self) -> list[str]:
        return [s.kind for s in self.sent]

    # The webhook side is not exercised here: carriers' requests are the HTTP tests' business.
    def verify(self, request: WebhookRequest) -> bool:
        return False

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        return False

    def message_status(self, request: WebhookRequest) -> StatusReport:
        raise ValueError("not a carrier")

    def call_status(self, request: WebhookRequest) -> StatusReport:
        raise ValueError("not a carrier")

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        raise ValueError("not a carrier")


@pytest.fixture
def twilio() -> RecordingProvider:
    return RecordingProvider("twilio")


@pytest.fixture
def plivo() -> RecordingProvider:
    return RecordingProvider("plivo")


@pytest.fixture
def service(clock: Clock, twilio: RecordingProvider, plivo: RecordingProvider) -> VerificationService:
    settings = load_settings(SETTINGS)
    store = MemoryStore(clock=clock)
    vault = CodeVault(settings.secret_key, settings.secret_key_fallbacks)
    return VerificationService(settings, store, {"twilio": twilio, "plivo": plivo}, vault, clock=clock)


def code_in(sent: Sent) -> str:
    return re.search(r"\b(\d{6})\b", sent.body).group(1)


def sends(v) -> list[tuple[str, str, str]]:
    """Each attempt as (channel, provider, status)."""
    return [(a.channel, a.provider, a.status) for a in v.attempts]


def receipt(service: VerificationService, v, index: int, status: str) -> None:
    """The carrier's delivery receipt for attempt `index` of `v`."""
    attempt = service.get(v.id).attempts[index]
    report = StatusReport(attempt.provider_id, status, status)
    service.on_status(attempt.provider, attempt.channel, v.id, index, report)


# --- the first send --------------------------------------------------------------------------


def test_a_first_send_goes_to_the_first_sms_provider(service, twilio, plivo) -> None:
    v = service.start(NUMBER, "sms")
    assert sends(v) == [("sms", "twilio", "queued")]
    assert v.attempts[0].provider_id == "twilio-sms-1"
    [sms] = twilio.sent
    assert sms.to == NUMBER and service.check(v.id, code_in(sms))[1] is True
    assert plivo.sent == []


def test_a_call_goes_to_the_first_voice_provider_with_its_answer_url(service, twilio, plivo) -> None:
    v = service.start(NUMBER, "call")
    assert sends(v) == [("call", "plivo", "queued")]
    [call] = plivo.sent
    assert call.body == f"{BASE_URL}/webhooks/plivo/voice/{v.id}?a=0"
    assert twilio.sent == []


# --- failover: the next provider of the same channel -----------------------------------------


def test_a_transient_error_fails_over_to_the_next_provider_with_the_same_code(service, twilio, plivo) -> None:
    twilio.fail(transient=True)
    v = service.start(NUMBER, "sms")
    assert sends(v) == [("sms", "twilio", "failed"), ("sms", "plivo", "queued")]
    assert v.sends_left == v.max_sends - 1  # one send, carried by its second attempt
    assert twilio.refused == 1
    [sms] = plivo.sent
    assert service.check(v.id, code_in(sms))[1] is True


def test_a_permanent_error_does_not_fail_over(service, twilio, plivo) -> None:
    twilio.fail(transient=False)  # a bad number or body: every provider would refuse it
    with pytest.raises(ProviderFailed):
        service.start(NUMBER, "sms")
    assert twilio.refused == 1 and plivo.sent == [] and plivo.refused == 0


def test_when_every_provider_fails_the_502_carries_the_verification_which_stays_usable(
    service, twilio, plivo, clock
) -> None:
    twilio.fail()
    plivo.fail()
    with pytest.raises(ProviderFailed) as failed:
        service.start(NUMBER, "sms")
    assert failed.value.status == 502
    shown = failed.value.verification
    assert shown is not None and shown.pending
    assert [(a.provider, a.status) for a in shown.attempts] == [("twilio", "failed"), ("plivo", "failed")]
    v = service.get(shown.id)
    assert v.pending and sends(v) == [("sms", "twilio", "failed"), ("sms", "plivo", "failed")]
    plivo.recover()  # a carrier is back: a resend (after the cooldown) carries the code
    clock.advance(service.settings.otp_resend_cooldown)
    again = service.resend(v.id, "sms")
    assert sends(again)[2:] == [("sms", "twilio", "failed"), ("sms", "plivo", "queued")]
    [sms] = plivo.sent
    assert service.check(v.id, code_in(sms))[1] is True


def test_a_failed_call_fails_over_to_the_next_voice_provider(service, twilio, plivo) -> None:
    plivo.fail()
    v = service.start(NUMBER, "call")
    assert sends(v) == [("call", "plivo", "failed"), ("call", "twilio", "queued")]
    assert twilio.kinds() == ["call"]


# --- auto: SMS first, then one call ----------------------------------------------------------


def test_auto_sends_an_sms_and_arms_the_fallback_timer(service, twilio, plivo, clock) -> None:
    v = service.start(NUMBER, "auto")
    assert sends(v) == [("sms", "twilio", "queued")]
    clock.advance(59)
    assert service.fire_due_timers() == 0 and plivo.sent == []
    clock.advance(1)  # OTP_FALLBACK_AFTER
    assert service.fire_due_timers() == 1 and plivo.kinds() == ["call"]


def test_auto_calls_on_a_failed_receipt(service, twilio, plivo) -> None:
    v = service.start(NUMBER, "auto")
    receipt(service, v, 0, "undelivered")
    after = service.get(v.id)
    assert sends(after) == [("sms", "twilio", "undelivered"), ("call", "plivo", "queued")]
    assert plivo.kinds() == ["call"] and twilio.kinds() == ["sms"]


def test_auto_calls_when_no_delivered_receipt_comes_in_time(service, twilio, plivo, clock) -> None:
    v = service.start(NUMBER, "auto")
    receipt(service, v, 0, "sent")  # accepted by the network, not yet on the phone
    clock.advance(60)
    assert service.fire_due_timers() == 1
    assert sends(service.get(v.id)) == [("sms", "twilio", "sent"), ("call", "plivo", "queued")]
    assert plivo.kinds() == ["call"]


def test_a_delivered_sms_means_no_call(service, plivo, clock) -> None:
    v = service.start(NUMBER, "auto")
    receipt(service, v, 0, "delivered")
    clock.advance(60)
    service.fire_due_timers()
    assert sends(service.get(v.id)) == [("sms", "twilio", "delivered")]
    assert plivo.sent == []


def test_auto_never_places_a_second_call(service, twilio, plivo, clock) -> None:
    v = service.start(NUMBER, "auto")
    receipt(service, v, 0, "failed")  # the first fallback call
    receipt(service, v, 0, "failed")  # a repeated receipt
    clock.advance(60)
    service.fire_due_timers()  # the timer, had it not been settled
    clock.advance(service.settings.otp_resend_cooldown)
    again = service.resend(v.id, "sms")  # a new SMS...
    receipt(service, again, len(again.attempts) - 1, "undelivered")  # ...that fails too
    clock.advance(60)
    service.fire_due_timers()
    assert plivo.kinds() == ["call"] and twilio.kinds() == ["sms", "sms"]
    assert [a.channel for a in service.get(v.id).attempts] == ["sms", "call", "sms"]


def test_auto_places_no_fallback_call_after_one_was_asked_for(service, twilio, plivo, clock) -> None:
    v = service.start(NUMBER, "auto")
    clock.advance(service.settings.otp_resend_cooldown)
    service.resend(v.id, "call")
    receipt(service, v, 0, "undelivered")
    clock.advance(60)
    service.fire_due_timers()
    assert plivo.kinds() == ["call"]


def test_auto_calls_at_once_when_the_sms_provider_refuses_the_send(service, twilio, plivo) -> None:
    twilio.fail(transient=False)
    v = service.start(NUMBER, "auto")
    assert sends(v) == [("sms", "twilio", "failed"), ("call", "plivo", "queued")]
    assert plivo.kinds() == ["call"]


# --- a start while one is pending ------------------------------------------------------------


def test_a_start_while_one_is_pending_resends_it_with_the_same_code(service, twilio, clock) -> None:
    first, created = service.start_or_resend(NUMBER, "sms")
    assert created is True
    clock.advance(service.settings.otp_resend_cooldown)
    again, created = service.start_or_resend(NUMBER, "sms")
    assert created is False and again.id == first.id
    assert [a.send_no for a in again.attempts] == [1, 2]
    assert [code_in(s) for s in twilio.sent] == [code_in(twilio.sent[0])] * 2
    assert service.check(first.id, code_in(twilio.sent[1]))[1] is True


def test_a_start_after_the_pending_one_is_approved_creates_a_new_one(service, twilio, clock) -> None:
    first = service.start(NUMBER, "sms")
    assert service.check(first.id, code_in(twilio.sent[0]))[1] is True
    second, created = service.start_or_resend(NUMBER, "sms")
    assert created is True and second.id != first.id
