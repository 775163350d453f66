"""Approval requests through /v1: the contract's shape and limits, cancel, expiry by the worker,
their events, the pure transition table (exhaustive, and a hypothesis state machine) and the texts."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
from conftest import LIMITS_OFF, NUMBER
from flask import Flask
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from telephony.approval_wording import APPROVAL_WORDING, approval_sms, encoding, fits
from telephony.approvals import (
    TRANSITIONS,
    Answer,
    Approval,
    ApprovalEvent,
    ApprovalStatus,
    Cancel,
    SendResult,
    TooManyWrongReferences,
    first_attempt,
    parse_reply,
    step,
)
from telephony.errors import NotPending
from telephony.limits import CreateApproval, SendPlan
from telephony.models import Channel, SendStatus
from telephony.store.redis import RedisStore
from tests.test_events import work

REQUEST = {"to": NUMBER, "message": "Sign in to Acme from Chrome on Windows", "details": {"Location": "Paris, FR"},
           "hidden_details": {"session": "s_123"}}  # fmt: skip


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(**LIMITS_OFF)


def events(client) -> list[tuple[str, str]]:
    return [(e["type"], e["data"]["id"]) for e in client.get("/v1/events").get_json()["events"]]


def test_start_answers_the_contracts_shape(app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/v1/approvals", json=REQUEST)
    assert answer.status_code == 201 and answer.headers["Location"].endswith(answer.get_json()["id"])
    a = answer.get_json()
    assert list(a) == ["id", "to", "status", "channel", "locale", "message", "details", "hidden_details", "reference",
                       "created_at", "expires_at", "responded_at", "responded_via", "sends"]  # fmt: skip
    assert a["status"] == "pending" and a["channel"] == "sms" and len(a["reference"]) == 4 and a["reference"].isdigit()
    assert a["hidden_details"] == {"session": "s_123"} and a["responded_at"] is None
    assert a["sends"][0]["provider"] == "console" and a["sends"][0]["status"] == "queued"
    assert client.get(f"/v1/approvals/{a['id']}").get_json() == a
    sms = client.get("/dev/outbox").get_json()["sends"][0]["body"]
    assert f"YES {a['reference']}" in sms and "s_123" not in sms


@pytest.mark.parametrize("change", [
    {"message": ""}, {"message": "x" * 161}, {"message": 5}, {"channel": "email"}, {"expires_in": 29},
    {"expires_in": 3601}, {"expires_in": "300"}, {"details": {f"k{i}": "v" for i in range(11)}},
    {"details": {"k" * 21: "v"}}, {"details": {"k": "v" * 65}}, {"details": {"k": 1}}, {"details": ["x"]},
    {"hidden_details": {"k": "v" * 1100}}, {"hidden_details": {"k": {"nested": "x"}}}, {"locale": "xx"},
    {"to": "4155550100"}, {"unknown": "x"}, {"client_ip": 7},
])  # fmt: skip
def test_bad_starts_are_refused_and_nothing_is_sent(app: Flask, change: dict) -> None:
    client = app.test_client()
    answer = client.post("/v1/approvals", json={**REQUEST, **change})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] in ("invalid_request", "invalid_phone_number")
    assert client.get("/dev/outbox").get_json()["sends"] == []


def test_the_same_rules_as_codes_opt_outs_and_destinations(app: Flask) -> None:
    client = app.test_client()
    app.extensions["verification"].store.set_opted_out(NUMBER, True)
    refused = client.post("/v1/approvals", json=REQUEST)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "opted_out"
    assert client.post("/v1/approvals", json={**REQUEST, "channel": "call"}).status_code == 201  # calls still go
    premium = client.post("/v1/approvals", json={**REQUEST, "to": "+19005550100"})
    assert premium.status_code == 403 and premium.get_json()["error"]["code"] == "destination_not_allowed"


def test_limits_count_approvals_as_sends(make_app: Callable[..., Flask]) -> None:
    client = make_app(OTP_LIMIT_NUMBER="2/600").test_client()
    assert client.post("/v1/verifications", json={"to": NUMBER}).status_code == 201
    assert client.post("/v1/approvals", json=REQUEST).status_code == 201
    limited = client.post("/v1/approvals", json=REQUEST)
    assert limited.status_code == 429 and limited.headers["Retry-After"]


def test_cancel_once_then_409_and_one_event(app: Flask) -> None:
    client = app.test_client()
    a = client.post("/v1/approvals", json=REQUEST).get_json()
    canceled = client.post(f"/v1/approvals/{a['id']}/cancel")
    assert canceled.status_code == 200 and canceled.get_json()["status"] == "canceled"
    again = client.post(f"/v1/approvals/{a['id']}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_pending"
    assert client.get("/v1/approvals/ap_nope").status_code == 404
    work(app)
    assert events(client) == [("approval.canceled", a["id"])]


# Memory only: 30 s at least on Redis's own clock; the store test below covers Redis.
@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_expiry_shows_at_once_and_the_worker_writes_one_event(app: Flask, clock) -> None:
    client = app.test_client()
    a = client.post("/v1/approvals", json={**REQUEST, "expires_in": 30}).get_json()
    clock.advance(31)
    assert client.get(f"/v1/approvals/{a['id']}").get_json()["status"] == "expired"  # before the worker ran
    assert client.post(f"/v1/approvals/{a['id']}/cancel").status_code == 409
    work(app)
    work(app)
    assert events(client) == [("approval.expired", a["id"])]
    listed = client.get("/v1/events").get_json()["events"][0]["data"]
    assert listed["status"] == "expired" and listed["hidden_details"] == {"session": "s_123"}


@pytest.mark.redis
def test_redis_expires_an_approval_once_by_its_own_clock(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    now = store.now()
    pending = Approval(id=store.names.new_approval_id(NUMBER), to=NUMBER, channel=Channel.SMS, locale="en",
                       message="m", reference="1234", created_at=now, expires_at=now + 0.3,
                       attempts=(first_attempt(Channel.SMS, "console", now),))  # fmt: skip
    plan = SendPlan(NUMBER, (), (), (), None, check_opt_out=False)
    created = store.admit(plan, CreateApproval(pending)).approval
    assert created is not None and store.approvals_for(NUMBER)[0].id == created.id
    time.sleep(0.4)
    logged = store.collect_events(lambda e: [])
    assert [(e.type, e.resource) for e in logged] == [("approval.expired", created.id)]
    assert store.collect_events(lambda e: []) == []
    expired = store.approval_get(created.id)
    assert expired is not None and expired.status == ApprovalStatus.EXPIRED
    answered = step(expired, Answer(True, Channel.SMS), store.now())
    assert not answered.changed  # nothing answers it any more


# --- the pure table ----------------------------------------------------------------------------------

EVENTS = (Answer, Cancel, TooManyWrongReferences, SendResult)


def test_the_table_covers_every_state_and_event() -> None:
    assert set(TRANSITIONS) == {(status, kind) for status in ApprovalStatus for kind in EVENTS}


@pytest.mark.parametrize(("text", "parsed"), [
    ("YES 4821", (True, "4821")), ("y4821", (True, "4821")), ("  no   0042 ", (False, "0042")), ("N 1234", (False, "1234")),
    ("YES", None), ("YES 482", None), ("YES 48211", None), ("OK 4821", None), ("YES 4821 please", None),
])  # fmt: skip
def test_the_reply_grammar(text: str, parsed: tuple[bool, str] | None) -> None:
    assert parse_reply(text) == parsed


def _fresh(now: float = 1000.0) -> Approval:
    return Approval(id="ap_00000000AAAAAAAAAAAAAAAAAAAAAA", to=NUMBER, channel=Channel.SMS, locale="en", message="m",
                    reference="1234", created_at=now, expires_at=now + 300,
                    attempts=(first_attempt(Channel.SMS, "console", now),))  # fmt: skip


class ApprovalMachine(RuleBasedStateMachine):
    """Any sequence of answers, cancels, guesses, receipts and time: one final status, reached once,
    with exactly one event; sends are recorded in every state."""

    def __init__(self) -> None:
        super().__init__()
        self.a = _fresh()
        self.now = 1000.0
        self.events: list[str] = []
        self.final: ApprovalStatus | None = None

    def apply(self, event: ApprovalEvent) -> None:
        try:
            result = step(self.a, event, self.now)
        except NotPending:
            assert isinstance(event, Cancel) and (not self.a.pending or self.now >= self.a.expires_at)
            return
        if result.event:
            self.events.append(result.event)
        if result.changed and result.approval.status != self.a.status:
            assert self.a.pending  # only a pending approval changes status
            self.final = result.approval.status
        self.a = result.approval

    @rule(approve=st.booleans(), via=st.sampled_from([Channel.SMS, Channel.CALL]))
    def answer(self, approve: bool, via: Channel) -> None:
        self.apply(Answer(approve, via))

    @rule()
    def cancel(self) -> None:
        self.apply(Cancel())

    @rule()
    def guessed(self) -> None:
        self.apply(TooManyWrongReferences())

    @rule(status=st.sampled_from(["sent", "delivered", "undelivered", "failed"]), provider_id=st.sampled_from([None, "SM1"]))
    def receipt(self, status: str, provider_id: str | None) -> None:
        self.apply(SendResult(0, provider_id, SendStatus(status)))
        assert self.a.attempts[0].status != SendStatus.QUEUED  # recorded whatever the approval's state

    @rule(seconds=st.floats(min_value=0, max_value=400))
    def later(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def one_final_status_and_one_event(self) -> None:
        assert len(self.events) <= 1
        if self.final is not None:
            assert self.a.status == self.final and self.events == [f"approval.{self.final}"]
        else:
            assert self.a.pending and not self.events

    @precondition(lambda self: self.a.status in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED))
    @invariant()
    def an_answer_says_when_and_how(self) -> None:
        assert self.a.responded_at is not None


TestApprovalMachine = ApprovalMachine.TestCase


# --- the texts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(APPROVAL_WORDING))
def test_every_locales_sms_fits_two_segments_and_stays_gsm7(locale: str) -> None:
    short = approval_sms(locale, brand="Acme", message=REQUEST["message"], details=REQUEST["details"], reference="4821")
    assert encoding(short) == "gsm7" and "(Location: Paris, FR)" in short and "YES 4821" in short and "NO 4821" in short
    longest = approval_sms(locale, brand="A" * 30, message="m" * 160, details={f"key{i:02d}": "v" * 64 for i in range(10)},
                           reference="4821")  # fmt: skip
    assert fits(longest) and "..." in longest and longest.endswith(APPROVAL_WORDING[locale].ask.format(ref="4821"))
    unicode = approval_sms(locale, brand="Acme", message="Вход в Acme " * 13, details={"Где": "Москва"}, reference="4821")
    assert encoding(unicode) == "ucs2" and fits(unicode) and "YES 4821" in unicode


# --- the command line --------------------------------------------------------------------------------


def test_cli_approve_waits_for_the_answer(served) -> None:
    app = served(**LIMITS_OFF)
    runner = app.test_cli_runner()
    answered = threading.Event()

    def person() -> None:  # replies once the request has arrived
        with app.app_context():
            while not (sent := app.test_client().get("/dev/outbox").get_json()["sends"]):
                time.sleep(0.05)
            reference = re.search(r"YES (\d{4})", sent[0]["body"]).group(1)
            # (not a second CliRunner call: one runner at a time swaps sys.stdout)
            assert "approved" in app.extensions["approvals"].on_reply(NUMBER, True, reference, "en")
            answered.set()

    thread = threading.Thread(target=person)
    thread.start()
    result = runner.invoke(args=["otp", "approve", NUMBER, "--message", "Sign in to Acme", "--detail", "City=Paris"])
    thread.join(10)
    assert answered.is_set() and result.exit_code == 0, (result.output, repr(result.exception))
    assert result.output.splitlines()[-1] == "approved" and "reference" in result.output.splitlines()[0]


def test_cli_simulate_reply_and_answer_on_approvals(served) -> None:
    app = served(**LIMITS_OFF)
    runner = app.test_cli_runner()
    started = runner.invoke(args=["otp", "approve", NUMBER, "--message", "Sign in to Acme", "--channel", "call", "--no-wait"])
    approval_id = started.output.split()[1]
    heard = runner.invoke(args=["otp", "simulate", "answer", approval_id, "--press", "2"]).output
    assert "Sign in to Acme" in heard and "[presses 2]" in heard and "denied" in heard
    with app.app_context():
        assert app.extensions["approvals"].get(approval_id).status == "denied"
    texted = runner.invoke(args=["otp", "approve", NUMBER, "--message", "Pay 10 EUR", "--no-wait"]).output
    reference = texted.split()[-1]
    assert "approved" in runner.invoke(args=["otp", "simulate", "reply", NUMBER, f"YES {reference}"]).output
