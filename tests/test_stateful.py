"""Stateful property test: random sequences of API calls, signed Twilio webhooks, clock moves and
fallback timers, checked after every step against the contract.

The real twilio SDK sends; `responses` answers its HTTP and records every request, so the test
knows each send's code, status callback URL and answer URL as the carrier would. Invariants:
at most one approval per verification, and a final status never changes; never more sends than
OTP_MAX_SENDS, and every provider request is exactly one entry in `sends`; a send's status never
moves back, nor from one final status to another; under `auto` at most one fallback call, placed
when the newest SMS fails or OTP_FALLBACK_AFTER seconds after the newest SMS (never sooner);
`failed` exactly when no send is left and all failed; a duplicated or misrouted callback changes
nothing; only the newest call of a pending verification speaks the code; no 500, and every
answer is the one the contract gives for the verification's state.

The abuse limits (per number, prefix, IP, wrong codes per number, SMS pumping) are set out of
reach: they have tests of their own, and here they would only blur which 429 is which.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import responses
from conftest import BASE_CONFIG, BASE_URL, TWILIO, Clock, signed_post
from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from werkzeug.test import TestResponse

from app import create_app
from telephony.service import VOICE_REPEATS
from telephony.store import MemoryStore

TWILIO_API = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO['TWILIO_ACCOUNT_SID']}"
MODES = ("auto", "sms", "call")  # `auto` first: its fallbacks are the deepest histories
NUMBERS = ("+14155550100", "+14155550101", "+14155550102")
MAX_CHECKS = 3
TTL = 120
FALLBACK_AFTER = 5
MAX_VERIFICATIONS = 4  # per run: every step reads each one back
CONFIG = {
    **BASE_CONFIG,
    **TWILIO,
    "OTP_PROVIDER": "twilio",
    "OTP_RESEND_COOLDOWN": "1",
    "OTP_FALLBACK_AFTER": str(FALLBACK_AFTER),
    "OTP_MAX_CHECKS": str(MAX_CHECKS),
    "OTP_TTL": str(TTL),
    "OTP_LIMIT_NUMBER": "10000/600",
    "OTP_LIMIT_PREFIX": "10000/600",
    "OTP_LIMIT_IP": "10000/600",
    "OTP_LIMIT_CHECKS": "10000/600",
    "OTP_PUMPING_MIN_SENDS": "off",
}

# The contract's send statuses, ranked: a send's status only ever moves to a higher rank.
MESSAGE_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}
CALL_RANK = {"queued": 0, "ringing": 1, "answered": 2, "completed": 3, "busy": 3, "no-answer": 3, "failed": 3}
FAILED_SEND = {"undelivered", "failed", "busy", "no-answer"}
FINAL = {"approved", "canceled", "failed", "max_attempts_reached"}
# Twilio's words, and one it never sends. Failures are what fallbacks and `failed` hang on: half the draws.
MESSAGE_WORDS = st.sampled_from(["undelivered", "failed"]) | st.sampled_from(
    ["queued", "sending", "sent", "delivered", "undelivered", "failed", "weird"]
)
CALL_WORDS = st.sampled_from(["busy", "no-answer", "failed"]) | st.sampled_from(
    ["initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "weird"]
)


@dataclass
class Sent:
    """One request the app made to Twilio, as Twilio received it."""

    vid: str
    n: int  # the verification's place in the run: `verifications_<n>` in a falsifying example
    index: int  # the send's place in the verification's `sends`
    channel: str  # sms or call
    sid: str
    status_url: str
    answer_url: str | None
    origin: str  # the rule during which the app sent it
    at: float

    def __repr__(self) -> str:  # what a falsifying example prints for a drawn send
        return f"<{self.channel} send {self.index} of verifications_{self.n}, placed by {self.origin}>"


def _form(body: str | bytes | None) -> dict[str, str]:
    text = body.decode() if isinstance(body, bytes) else body or ""
    return {k: v[0] for k, v in parse_qs(text).items()}


def _spoken_digits(twiml: ET.Element) -> list[str]:
    return [say.text for say in twiml.iter("Say") if say.text and say.text.isdigit()]


VERIFICATIONS = Bundle("verifications")


class Model(RuleBasedStateMachine):
    """The test's bookkeeping: each verification as last read and what the test saw happen to it,
    every request the app made to Twilio, and the plumbing the rules reach the app through."""

    def __init__(self, redis_url: str | None = None) -> None:
        super().__init__()
        self.redis_url = redis_url
        self.clock = Clock()
        self.origin = "init"
        self.sids = count(1)
        self.sent: list[Sent] = []
        self.problems: list[str] = []  # assertions that failed inside the mocked Twilio API
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.start()
        self.mock.add_callback(responses.POST, f"{TWILIO_API}/Messages.json", callback=self._twilio("sms", "SM"))
        self.mock.add_callback(responses.POST, f"{TWILIO_API}/Calls.json", callback=self._twilio("call", "CA"))
        # The model: each verification as last read, and what the test has seen happen to it.
        self.order: list[str] = []
        self.state: dict[str, dict] = {}
        self.mode: dict[str, str] = {}
        self.expires: dict[str, float] = {}
        self.codes: dict[str, str] = {}
        self.latest: dict[str, str] = {}  # number -> newest verification started for it
        self.approvals: defaultdict[str, int] = defaultdict(int)
        self.wrong: defaultdict[str, int] = defaultdict(int)  # wrong codes answered 200
        self.plays: defaultdict[str, int] = defaultdict(int)  # answer URL requests
        self.top_rank: dict[tuple[str, int], tuple[int, str]] = {}

    def teardown(self) -> None:
        self.mock.stop()
        self.mock.reset()
        # Steer generation towards long histories: many sends, fallbacks, failures.
        depth = [len(self.sends_of(vid)) + 2 * len(self.fallback_calls(vid)) for vid in self.order]
        target(float(max(depth, default=0)), label="deepest verification")

    # --- the carrier's side: Twilio's REST API -------------------------------------------------

    def _twilio(self, channel: str, prefix: str) -> Callable:
        def reply(request: object) -> tuple[int, dict, str]:
            try:
                return self._record(request, channel, prefix)
            except Exception as exc:  # raised inside the app's provider call: report it from the test
                self.problems.append(f"{type(exc).__name__}: {exc}")
                raise

        return reply

    def _record(self, request: object, channel: str, prefix: str) -> tuple[int, dict, str]:
        form = _form(request.body)
        sid = f"{prefix}{next(self.sids):032x}"
        parts = urlsplit(form["StatusCallback"])
        vid = parts.path.rsplit("/", 1)[1]
        index = int(parse_qs(parts.query)["a"][0])
        assert parts.path == f"/webhooks/twilio/status/{'message' if channel == 'sms' else 'call'}/{vid}"
        if channel == "sms":
            code = re.search(r"\b(\d{6})\b", form["Body"]).group(1)
            assert self.codes.setdefault(vid, code) == code, "an SMS carried another code"
        else:
            assert form["Url"] == f"{BASE_URL}/webhooks/twilio/voice/{vid}?a={index}"
        assert not self.sends_of(vid) or index == max(s.index for s in self.sends_of(vid)) + 1, "a send skipped"
        if channel == "call" and self.origin == "timer":  # the wait counts from the newest SMS (README)
            newest_sms = self.sends_of(vid, "sms")[-1]
            assert newest_sms.at + FALLBACK_AFTER <= self.clock(), f"fallback call too early after {newest_sms}"
        n = self.order.index(vid) if vid in self.order else len(self.order)  # a start: not returned yet
        self.sent.append(
            Sent(vid, n, index, channel, sid, form["StatusCallback"], form.get("Url"), self.origin, self.clock())
        )
        body = f'{{"sid": "{sid}", "status": "queued", "account_sid": "{TWILIO["TWILIO_ACCOUNT_SID"]}"}}'
        return 201, {"Content-Type": "application/json"}, body

    # --- plumbing ------------------------------------------------------------------------------

    def call(self, origin: str, method: str, path: str, json: dict | None = None) -> TestResponse:
        self.origin = origin
        response = self.client.open(path, method=method, json=json)
        assert not self.problems, self.problems
        assert response.status_code != 500, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        assert not [c for c in self.codes.values() if c in text], "a code in an API response"
        return response

    def signed(self, origin: str, url: str, params: dict[str, str]) -> TestResponse:
        self.origin = origin
        response = signed_post(self.client, url, params)
        assert not self.problems, self.problems
        assert response.status_code != 500, response.get_data(as_text=True)
        return response

    def expired(self, vid: str) -> bool:
        # Redis expires keys on its own (real) clock, which the test clock does not move.
        return self.redis_url is None and self.clock() >= self.expires[vid]

    def pending(self, vid: str) -> bool:
        return not self.expired(vid) and self.state[vid]["status"] == "pending"

    def canonical(self) -> list[Sent]:
        """Every send in an order that does not depend on the random ids: due timers fire in id
        order, so `self.sent` may differ between two runs of one example, and draws must not."""
        return sorted(self.sent, key=lambda s: (s.n, s.index))

    def sends_of(self, vid: str, channel: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.vid == vid and channel in (None, s.channel)]

    def fallback_calls(self, vid: str) -> list[Sent]:
        """Calls the app placed on its own under `auto`: not the answer to a resend."""
        if self.mode[vid] != "auto":
            return []
        return [s for s in self.sends_of(vid, "call") if s.origin != "resend"]

    def code_for(self, vid: str) -> str | None:
        """The code: from an SMS body, else heard by answering the newest call (if it still speaks)."""
        calls = self.sends_of(vid, "call")
        if vid not in self.codes and calls and self.pending(vid):
            self.answer(calls[-1])
        return self.codes.get(vid)

    def answer(self, call: Sent) -> None:
        """Answer a call as a person would; only the newest call of a pending verification speaks,
        and at most 1 + VOICE_REPEATS times for each call placed."""
        params = {"CallSid": call.sid, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "From": TWILIO["TWILIO_FROM"],
                  "To": self.state[call.vid]["to"], "CallStatus": "in-progress", "Direction": "outbound-api"}  # fmt: skip
        response = self.signed("answer", call.answer_url, params)
        assert response.status_code == 200 and response.mimetype == "text/xml"
        digits = _spoken_digits(ET.fromstring(response.get_data()))
        calls = self.sends_of(call.vid, "call")
        if not self.expired(call.vid):
            self.plays[call.vid] += 1
        speaks = (
            self.pending(call.vid)
            and call.index == calls[-1].index
            and self.plays[call.vid] <= (1 + VOICE_REPEATS) * len(calls)
        )
        if not speaks:
            assert digits == [], f"{call} read the code out (plays: {self.plays[call.vid]})"
            return
        assert len(digits) == 12 and digits[:6] == digits[6:], digits  # the code, twice
        code = "".join(digits[:6])
        assert self.codes.setdefault(call.vid, code) == code, "the call read another code"

    def record_check(self, response: TestResponse) -> None:
        if response.status_code == 200:
            body = response.get_json()
            (self.approvals if body["valid"] else self.wrong)[body["id"]] += 1

    def live(self, data: st.DataObject, vid: str) -> str:
        """`vid`, or half the time a verification still pending (resends only matter there)."""
        pending = [n for n, v in enumerate(self.order) if self.pending(v)]
        if pending and data.draw(st.booleans(), label="instead a pending one"):
            return self.order[data.draw(st.sampled_from(pending), label="verifications_<n>")]
        return vid

    def pick(self, data: st.DataObject, channel: str) -> Sent:
        """A send of `channel`: the newest of a pending verification, any of one, or any at all."""
        sends = [s for s in self.canonical() if s.channel == channel]
        live = [s for s in sends if self.pending(s.vid)]
        newest = [s for s in live if s.index == self.sends_of(s.vid)[-1].index]
        choices = [st.sampled_from(group) for group in (newest, live) if group]
        return data.draw(st.one_of(*choices, st.sampled_from(sends)), label=f"{channel} send")

    def _read_all(self) -> dict[str, dict]:
        fresh = {}
        for vid in self.order:
            response = self.client.get(f"/v1/verifications/{vid}")
            assert response.status_code != 500
            if self.expired(vid):
                assert response.status_code == 404, "an expired verification is still served"
                continue
            assert response.status_code == 200, response.get_json()
            fresh[vid] = response.get_json()
        return fresh


class ApiRules(Model):
    """What a backend may ask of /v1, each answer checked against the model."""

    @initialize(
        target=VERIFICATIONS,
        max_sends=st.sampled_from([2, 3, 4, 5]),
        starts=st.lists(st.tuples(st.sampled_from(NUMBERS), st.sampled_from(MODES)), min_size=1, max_size=2),
    )
    def build_app_and_start(self, max_sends: int, starts: list[tuple[str, str]]) -> MultipleResults[str]:
        self.max_sends = max_sends
        config = {**CONFIG, "OTP_MAX_SENDS": str(max_sends)}
        if self.redis_url is None:
            self.app = create_app(config, store=MemoryStore(clock=self.clock), clock=self.clock)
        else:
            redis.Redis.from_url(self.redis_url).flushall()
            self.app = create_app({**config, "REDIS_URL": self.redis_url}, clock=self.clock)
        self.service = self.app.extensions["verification"]
        self.client = self.app.test_client()
        return multiple(*(self.start(to, channel) for to, channel in starts))

    @precondition(lambda self: len(self.order) < MAX_VERIFICATIONS)
    @rule(target=VERIFICATIONS, to=st.sampled_from(NUMBERS), channel=st.sampled_from(MODES))
    def start(self, to: str, channel: str) -> str:
        before = len(self.sent)
        pending = self.latest.get(to)
        was = self.state[pending] if pending and self.pending(pending) else None
        origin = "start" if was is None else "resend"  # a start while one is pending is a resend
        response = self.call(origin, "POST", "/v1/verifications", {"to": to, "channel": channel})
        if was is not None:  # a start while one is pending sends that one again: a resend
            assert pending is not None
            wanted = channel if channel in ("sms", "call") else was["channel"]
            self.expect_resend(pending, was, wanted, response, self.sent[before:])
            if response.status_code == 200:
                assert response.get_json()["id"] == pending
            return pending
        assert response.status_code == 201, response.get_json()
        v = response.get_json()
        vid = v["id"]
        self.order.append(vid)
        self.state[vid], self.mode[vid], self.expires[vid] = v, channel, self.clock() + TTL
        self.latest[to] = vid
        [first] = self.sent[before:]
        assert (first.vid, first.index, first.channel) == (vid, 0, "call" if channel == "call" else "sms")
        assert v["status"] == "pending" and v["sends_left"] == self.max_sends - 1 and len(v["sends"]) == 1
        return vid

    @rule(vid=VERIFICATIONS)
    def check_right_code(self, vid: str) -> None:
        code = self.code_for(vid)
        if code is None and self.pending(vid):
            return  # a call-only verification whose newest call no longer speaks: nobody knows it
        was = self.state[vid]["status"]
        response = self.call("check", "POST", f"/v1/verifications/{vid}/check", {"code": code or "123456"})
        self.record_check(response)
        if self.expired(vid):
            assert response.status_code == 404
        elif was == "pending":
            assert response.status_code == 200 and response.get_json()["valid"] is True, response.get_json()
            assert response.get_json()["status"] == "approved"
        elif was == "max_attempts_reached":
            assert response.status_code == 429 and response.get_json()["error"]["code"] == "max_attempts_reached"
        else:
            assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_pending"

    @rule(vid=VERIFICATIONS)
    def check_wrong_code(self, vid: str) -> None:
        code = self.code_for(vid) or "123456"
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        was = self.state[vid]
        response = self.call("check", "POST", f"/v1/verifications/{vid}/check", {"code": wrong})
        self.record_check(response)
        if self.expired(vid):
            assert response.status_code == 404
        elif was["status"] == "pending":
            body = response.get_json()
            assert response.status_code == 200 and body["valid"] is False, body
            assert body["checks_left"] == was["checks_left"] - 1
            assert body["status"] == ("max_attempts_reached" if body["checks_left"] == 0 else "pending")
        elif was["status"] == "max_attempts_reached":
            assert response.status_code == 429 and response.get_json()["error"]["code"] == "max_attempts_reached"
        else:
            assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_pending"

    @rule(to=st.sampled_from(NUMBERS), right=st.booleans())
    def check_by_number(self, to: str, right: bool) -> None:
        vid = self.latest.get(to)
        known = self.code_for(vid) if vid else None
        right = right and known is not None
        code = known or "123456"
        if not right:
            code = f"{(int(code) + 1) % 10**6:06d}"
        response = self.call("check", "POST", "/v1/verification-checks", {"to": to, "code": code})
        self.record_check(response)
        if vid is None or self.expired(vid):
            assert response.status_code == 404
            return
        was = self.state[vid]["status"]
        if was == "pending":
            assert response.status_code == 200 and response.get_json()["id"] == vid
            assert response.get_json()["valid"] is right
        elif was == "max_attempts_reached":
            assert response.status_code == 429
        else:
            assert response.status_code == 404  # no pending verification for the number

    @rule(
        vid=VERIFICATIONS,
        channel=st.sampled_from([None, "sms", "call"]),
        after=st.sampled_from([0, 1, 2, 4]),
        data=st.data(),
    )
    def resend(self, vid: str, channel: str | None, after: int, data: st.DataObject) -> None:
        """Ask for another send, `after` seconds from now (cooldowns are 1, 2, 4... seconds)."""
        vid = self.live(data, vid)
        self.clock.advance(after)
        was = self.state[vid]
        before = len(self.sent)
        response = self.call(
            "resend", "POST", f"/v1/verifications/{vid}/resend", {"channel": channel} if channel else {}
        )
        new = self.sent[before:]
        if self.expired(vid):
            assert response.status_code == 404 and new == []
            return
        if was["status"] != "pending":
            assert response.status_code == 409 and new == []
            return
        self.expect_resend(vid, was, channel or was["channel"], response, new)

    def expect_resend(self, vid: str, was: dict, wanted: str, response: TestResponse, new: list[Sent]) -> None:
        """What a resend of a pending verification may answer: one new send, or 429 and none."""
        if response.status_code == 429:
            assert response.headers.get("Retry-After", "").isdigit() and new == []
            # Only a spent budget or the cooldown may refuse: the first switch of channel never waits.
            assert was["sends_left"] == 0 or any(s["channel"] == wanted for s in was["sends"]), was
            return
        assert response.status_code == 200, response.get_json()
        assert was["sends_left"] > 0
        [made] = new
        assert (made.vid, made.index, made.channel) == (vid, len(was["sends"]), wanted)
        assert response.get_json()["sends_left"] == was["sends_left"] - 1

    @rule(vid=VERIFICATIONS)
    def cancel(self, vid: str) -> None:
        was = self.state[vid]["status"]
        response = self.call("cancel", "POST", f"/v1/verifications/{vid}/cancel")
        if self.expired(vid):
            assert response.status_code == 404
        elif was == "pending":
            assert response.status_code == 200 and response.get_json()["status"] == "canceled"
        else:
            assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_pending"


class CarrierRules(Model):
    """What Twilio may post to our webhooks: receipts (repeated, misrouted) and answered calls."""

    def _callback(self, send: Sent, params: dict[str, str], duplicate: bool) -> None:
        response = self.signed("webhook", send.status_url, params)
        assert response.status_code in (200, 204), response.get_data(as_text=True)
        if duplicate:  # Twilio retries: the second delivery changes nothing and sends nothing
            before = self.client.get(f"/v1/verifications/{send.vid}")
            sent_before = len(self.sent)
            again = self.signed("webhook", send.status_url, params)
            assert again.status_code in (200, 204)
            after = self.client.get(f"/v1/verifications/{send.vid}")
            assert len(self.sent) == sent_before, "a duplicated callback sent something"
            assert (after.status_code, after.get_json()) == (before.status_code, before.get_json())

    @precondition(lambda self: any(s.channel == "sms" for s in self.sent))
    @rule(data=st.data(), word=MESSAGE_WORDS, duplicate=st.booleans())
    def message_status(self, data: st.DataObject, word: str, duplicate: bool) -> None:
        send = self.pick(data, "sms")
        params = {"MessageSid": send.sid, "SmsSid": send.sid, "MessageStatus": word, "SmsStatus": word,
                  "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"], "From": TWILIO["TWILIO_FROM"],
                  "To": self.state[send.vid]["to"], "ApiVersion": "2010-04-01"}  # fmt: skip
        self._callback(send, params, duplicate)

    def newest_sms(self) -> list[Sent]:
        return [
            s for s in self.canonical() if s.channel == "sms" and self.pending(s.vid) and s is self.sends_of(s.vid)[-1]
        ]

    @precondition(lambda self: self.newest_sms())
    @rule(data=st.data(), word=st.sampled_from(["undelivered", "failed"]))
    def newest_sms_fails(self, data: st.DataObject, word: str) -> None:
        """The carrier gives up on the newest SMS of a pending verification: where fallbacks start."""
        send = data.draw(st.sampled_from(self.newest_sms()), label="sms send")
        params = {"MessageSid": send.sid, "MessageStatus": word, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"]}
        self._callback(send, params, duplicate=False)

    @precondition(lambda self: any(s.channel == "call" for s in self.sent))
    @rule(data=st.data(), word=CALL_WORDS, duplicate=st.booleans())
    def call_status(self, data: st.DataObject, word: str, duplicate: bool) -> None:
        send = self.pick(data, "call")
        params = {"CallSid": send.sid, "CallStatus": word, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"],
                  "From": TWILIO["TWILIO_FROM"], "To": self.state[send.vid]["to"], "Direction": "outbound-api"}  # fmt: skip
        self._callback(send, params, duplicate)

    @precondition(lambda self: len(self.sent) > 1)
    @rule(data=st.data(), word=st.sampled_from(["undelivered", "failed", "delivered", "busy", "completed"]))
    def misrouted_status(self, data: st.DataObject, word: str) -> None:
        """A signed callback on one send's URL naming another send's SID changes nothing."""
        send, other = data.draw(st.permutations(self.canonical()).map(lambda p: p[:2]), label="send, other")
        before = self.client.get(f"/v1/verifications/{send.vid}")
        sent_before = len(self.sent)
        if send.channel == "sms":
            params = {"MessageSid": other.sid, "MessageStatus": word, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"]}
        else:
            params = {"CallSid": other.sid, "CallStatus": word, "AccountSid": TWILIO["TWILIO_ACCOUNT_SID"]}
        response = self.signed("webhook", send.status_url, params)
        assert response.status_code in (200, 204)
        after = self.client.get(f"/v1/verifications/{send.vid}")
        assert len(self.sent) == sent_before, "a misrouted callback sent something"
        assert (after.status_code, after.get_json()) == (before.status_code, before.get_json())

    @precondition(lambda self: any(s.channel == "call" for s in self.sent))
    @rule(data=st.data())
    def answer_call(self, data: st.DataObject) -> None:
        self.answer(self.pick(data, "call"))


class TimeRules(Model):
    """The clock moves; the fallback timers fire."""

    @rule(seconds=st.sampled_from([1, 1, 2, 3, 5, 8, 13, 60]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def fire_due_timers(self) -> None:
        self.origin = "timer"
        self.service.fire_due_timers()
        # An `auto` SMS not delivered within OTP_FALLBACK_AFTER has had its fallback call by now.
        for vid, v in self._read_all().items():
            sms = self.sends_of(vid, "sms")  # each accepted SMS re-arms the one timer: the newest counts
            due = bool(sms) and sms[-1].at + FALLBACK_AFTER <= self.clock()
            delivered = any(s["status"] == "delivered" for s in v["sends"] if s["channel"] == "sms")
            if self.mode[vid] == "auto" and v["status"] == "pending" and v["sends_left"] > 0 and due:
                called = any(s["channel"] == "call" for s in v["sends"])  # the fallback never adds a second call
                assert delivered or called, f"no fallback call for {vid}: {v}"


class Invariants(Model):
    """What holds after every step, whatever the rules did."""

    @invariant()
    def contract_holds(self) -> None:
        assert not self.problems, self.problems
        for vid, v in self._read_all().items():
            was, sends, made = self.state[vid], v["sends"], self.sends_of(vid)
            # At most one approval; a final status never changes (approved stays approved).
            assert self.approvals[vid] <= 1, f"{vid} approved {self.approvals[vid]} times"
            if self.approvals[vid]:
                assert v["status"] == "approved"
            if was["status"] in FINAL:
                assert v["status"] == was["status"], f"{vid}: {was['status']} -> {v['status']}"
            # Wrong codes: each spends one check, and the last one ends the verification.
            assert v["checks_left"] == MAX_CHECKS - self.wrong[vid]
            assert (v["status"] == "max_attempts_reached") == (v["checks_left"] == 0), v
            # Sends: bounded, and each provider request is one entry in `sends`, no more, no less.
            assert v["channel"] == sends[-1]["channel"]  # the channel of the newest send
            assert len(sends) <= self.max_sends and v["sends_left"] >= 0, v
            assert v["sends_left"] == self.max_sends - len(sends)
            assert len(made) == len(sends), (made, sends)
            for send, req in zip(sends, made, strict=True):
                assert (send["channel"], send["provider"], send["provider_id"]) == (req.channel, "twilio", req.sid)
            # No send status regression, and a final status never turns into another one.
            for i, send in enumerate(sends):
                ranks = MESSAGE_RANK if send["channel"] == "sms" else CALL_RANK
                assert send["status"] in ranks, send
                now = (ranks[send["status"]], send["status"])
                top = self.top_rank.get((vid, i))
                if top is not None and now != top:
                    assert now[0] > top[0], f"{vid} send {i}: {top[1]} -> {send['status']}"
                self.top_rank[(vid, i)] = now
            # Under `auto`: at most one fallback call, never after another call (asked for or not), and
            # one once the newest SMS failed while no call was placed yet.
            fallbacks = self.fallback_calls(vid)
            assert len(fallbacks) <= 1, f"{vid}: {len(fallbacks)} fallback calls: {fallbacks}"
            calls = [i for i, send in enumerate(sends) if send["channel"] == "call"]
            assert all(f.index == calls[0] for f in fallbacks), f"{vid}: a fallback after another call: {v}"
            if self.mode[vid] == "auto" and v["status"] == "pending" and v["sends_left"] > 0 and not calls:
                assert not (sends[-1]["channel"] == "sms" and sends[-1]["status"] in FAILED_SEND), f"no fallback: {v}"
            # `failed` exactly when no send is left and every send failed.
            all_failed = v["sends_left"] == 0 and all(s["status"] in FAILED_SEND for s in sends)
            if v["status"] == "failed":
                assert all_failed, v
            if v["status"] == "pending":
                assert not all_failed, f"should be failed: {v}"
            self.state[vid] = v


class VerificationMachine(ApiRules, CarrierRules, TimeRules, Invariants):
    """The whole machine: the rules of every concern over one model."""


SETTINGS = settings(
    max_examples=60, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_random_sequences_keep_the_contract_memory_store() -> None:
    run_state_machine_as_test(VerificationMachine, settings=SETTINGS)


@pytest.mark.redis
def test_random_sequences_keep_the_contract_redis_store(redis_url: str) -> None:
    run_state_machine_as_test(lambda: VerificationMachine(redis_url), settings=settings(SETTINGS, max_examples=20))
