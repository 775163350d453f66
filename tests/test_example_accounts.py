"""examples/accounts, the reference application, against a real service over HTTP.

The service runs as a development server on a free port (console provider; codes read from its
`/dev/outbox`), the example app is served too (the service's worker POSTs its webhooks there) and
its pages are driven with its Flask test client. Every Feathers flow, the login's second factors
(an SMS code, an approval by SMS or call, polled or told by webhook, a TOTP app) and their refusals.
"""

from __future__ import annotations

import html
import re
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import requests
from conftest import BASE_CONFIG, LIMITS_OFF, ROOT, Clock
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

from app import create_app
from telephony.store import MemoryStore
from tests.test_events import SECRET as WEBHOOK_SECRET
from tests.test_events import work

sys.path.insert(0, str(ROOT / "examples" / "accounts"))
import accounts

API_KEY = "accounts-example-api-key-0123456789"
PASSWORD = "correct horse battery"
TEST_NUMBER, FIXED_CODE = "+14155550190", "123456"  # an ordinary number: every other rule holds for it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(app: Flask, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Stack:
    """The service and the example app, each served on its own port."""

    service: Flask
    service_url: str
    example: Flask
    clock: Clock
    servers: list[BaseWSGIServer] = field(default_factory=list)

    def sends(self, to: str) -> list[dict]:
        """The service's outbox for `to`, newest first."""
        answer = requests.get(self.service_url + "/dev/outbox", timeout=5)
        return [s for s in answer.json()["sends"] if s["to"] == to]

    def code(self, to: str) -> str:
        """The code of the newest SMS to `to` that holds one."""
        for send in self.sends(to):
            found = re.search(r"(?<!\d)(\d{6})(?!\d)", send.get("body") or "")
            if found:
                return found.group(1)
        raise AssertionError(f"no code was sent to {to}")

    def user(self, phone: str) -> sqlite3.Row | None:
        with sqlite3.connect(self.example.config["DATABASE"]) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM users WHERE phone = ?", (phone,)).fetchone()

    def approval(self, approval_id: str) -> sqlite3.Row:
        with sqlite3.connect(self.example.config["DATABASE"]) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()

    def answer(self, approval_id: str, approve: bool) -> None:
        """The person answers on the phone (the demo plays the signed carrier webhook for it)."""
        answer = self.service.test_client().post(f"/demo/approvals/{approval_id}/respond", json={"approve": approve})
        assert answer.status_code == 200, answer.get_json()


def _stack(tmp: Path, **settings: str) -> Stack:
    service_port, example_port = _free_port(), _free_port()
    service_url, example_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{example_port}"
    clock = Clock()
    config = {**BASE_CONFIG, **LIMITS_OFF, "PUBLIC_BASE_URL": service_url, "API_KEYS": API_KEY,
              "WEBHOOK_URL": example_url + "/webhook", "WEBHOOK_SECRET": WEBHOOK_SECRET, **settings}  # fmt: skip
    service = create_app(config, store=MemoryStore(clock=clock), clock=clock)
    example = accounts.create_app({"VERIFY_URL": service_url, "VERIFY_API_KEY": API_KEY,
                                   "WEBHOOK_SECRET": WEBHOOK_SECRET, "DATABASE": str(tmp / "accounts.sqlite3"),
                                   "SECRET_KEY": "example-session-key", "TESTING": True})  # fmt: skip
    stack = Stack(service, service_url, example, clock)
    stack.servers = [_serve(service, service_port), _serve(example, example_port)]
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = _stack(tmp_path_factory.mktemp("accounts"))
    yield s
    for server in s.servers:
        server.shutdown()


def said(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def signup(client: FlaskClient, phone: str, factor: str = "sms") -> TestResponse:
    return client.post("/signup", data={"phone": phone, "password": PASSWORD, "second_factor": factor},
                       follow_redirects=True)  # fmt: skip


def login(client: FlaskClient, phone: str, password: str = PASSWORD) -> TestResponse:
    return client.post("/login", data={"phone": phone, "password": password}, follow_redirects=True)


def registered(stack: Stack, phone: str, factor: str = "sms") -> FlaskClient:
    """A client whose account at `phone` is verified."""
    client = stack.example.test_client()
    assert accounts.CODE_SENT.format(phone=phone) in said(signup(client, phone, factor))
    answer = client.post("/signup/verify", data={"code": stack.code(phone)}, follow_redirects=True)
    assert accounts.VERIFIED in said(answer)
    return client


def logged_in(stack: Stack, phone: str) -> FlaskClient:
    """A client logged in to a verified account at `phone` (its second factor an SMS code)."""
    client = registered(stack, phone)
    assert login(client, phone).request.path == "/login/code"
    answer = client.post("/login/code", data={"code": stack.code(phone)}, follow_redirects=True)
    assert accounts.WELCOME in said(answer) and answer.request.path == "/"
    return client


def test_sign_up_is_verified_by_the_right_code_and_login_waits_for_it(stack: Stack) -> None:
    phone = "+14155550110"
    client = stack.example.test_client()
    page = signup(client, phone)
    assert page.request.path == "/signup/verify" and accounts.CODE_SENT.format(phone=phone) in said(page)
    assert stack.user(phone)["is_verified"] == 0
    first = stack.sends(phone)
    assert len(first) == 1 and stack.code(phone) in first[0]["body"]

    refused = login(stack.example.test_client(), phone)
    assert refused.status_code == 403 and accounts.NOT_VERIFIED in said(refused)

    wrong = "000000" if stack.code(phone) != "000000" else "111111"
    answer = client.post("/signup/verify", data={"code": wrong})
    assert answer.status_code == 403 and accounts.WRONG_CODE in said(answer)

    # Resend: the cooldown first, then the same code again.
    assert "Please wait" in said(client.post("/signup/resend", follow_redirects=True))
    stack.clock.advance(31)
    assert accounts.CODE_RESENT in said(client.post("/signup/resend", follow_redirects=True))
    again = stack.sends(phone)
    assert len(again) == 2 and stack.code(phone) in again[1]["body"]

    answer = client.post("/signup/verify", data={"code": stack.code(phone)}, follow_redirects=True)
    assert answer.request.path == "/login" and accounts.VERIFIED in said(answer)
    assert stack.user(phone)["is_verified"] == 1
    assert len(stack.sends(phone)) == 3  # the number_verified notice

    # Logging in now asks for a login code (a code of its own, not the sign-up one).
    page = login(client, phone)
    assert page.request.path == "/login/code"
    answer = client.post("/login/code", data={"code": wrong})
    assert answer.status_code == 403 and accounts.WRONG_CODE in said(answer)
    answer = client.post("/login/code", data={"code": stack.code(phone)}, follow_redirects=True)
    assert accounts.WELCOME in said(answer) and phone in said(answer)
    assert client.get("/").status_code == 200


def test_sign_up_refusals(stack: Stack) -> None:
    client = stack.example.test_client()
    assert accounts.BAD_NUMBER in said(signup(client, "4155550111"))
    short = client.post("/signup", data={"phone": "+14155550111", "password": "short"})
    assert short.status_code == 400 and accounts.SHORT_PASSWORD in said(short)
    registered(stack, "+14155550112")
    taken = signup(stack.example.test_client(), "+14155550112")
    assert taken.status_code == 409 and accounts.TAKEN in said(taken)
    wrong = login(stack.example.test_client(), "+14155550112", "not the password")
    assert wrong.status_code == 401 and accounts.WRONG_LOGIN in said(wrong)
    unknown = login(stack.example.test_client(), "+14155550199")
    assert unknown.status_code == 401 and accounts.WRONG_LOGIN in said(unknown)


def test_an_expired_code_is_refused(stack: Stack) -> None:
    phone = "+14155550120"
    client = stack.example.test_client()
    signup(client, phone)
    code = stack.code(phone)
    stack.clock.advance(601)
    answer = client.post("/signup/verify", data={"code": code})
    assert answer.status_code == 400 and accounts.EXPIRED_CODE in said(answer)
    assert stack.user(phone)["is_verified"] == 0


def test_too_many_wrong_codes(stack: Stack) -> None:
    phone = "+14155550121"
    client = stack.example.test_client()
    signup(client, phone)
    wrong = "000000" if stack.code(phone) != "000000" else "111111"
    messages = [said(client.post("/signup/verify", data={"code": wrong})) for _ in range(6)]
    assert all(accounts.WRONG_CODE in m for m in messages[:4])
    assert accounts.TOO_MANY in messages[4] or accounts.TOO_MANY in messages[5]
    assert accounts.VERIFIED not in said(client.post("/signup/verify", data={"code": stack.code(phone)}))


def test_password_reset_by_code_and_a_signup_code_does_not_reset(stack: Stack) -> None:
    phone = "+14155550130"
    client = stack.example.test_client()
    signup(client, phone)  # not verified: its signup code is pending
    signup_code = stack.code(phone)
    answer = client.post("/reset", data={"phone": phone}, follow_redirects=True)
    assert answer.request.path == "/reset/confirm" and accounts.RESET_SENT in said(answer)
    reset_code = stack.code(phone)
    assert reset_code != signup_code
    refused = client.post("/reset/confirm", data={"code": signup_code, "password": "a new password"})
    assert refused.status_code == 403 and accounts.RESET_REFUSED in said(refused)

    done = client.post("/reset/confirm", data={"code": reset_code, "password": "a new password"}, follow_redirects=True)
    assert done.request.path == "/login" and accounts.RESET_DONE in said(done)
    assert len(stack.sends(phone)) == 3  # signup code, reset code, password_reset notice
    assert login(stack.example.test_client(), phone).status_code == 401
    assert login(stack.example.test_client(), phone, "a new password").request.path == "/login/code"


def test_reset_answers_the_same_for_a_number_without_an_account(stack: Stack) -> None:
    known, unknown = "+14155550131", "+14155550132"
    registered(stack, known)
    answers = []
    for phone in (known, unknown):
        client = stack.example.test_client()
        asked = client.post("/reset", data={"phone": phone}, follow_redirects=True)
        wrong = client.post("/reset/confirm", data={"code": "000000", "password": "another password"})
        answers.append([(r.status_code, r.request.path, said(r).replace(phone, "")) for r in (asked, wrong)])
    assert answers[0] == answers[1]
    assert accounts.RESET_SENT in answers[0][0][2] and accounts.RESET_REFUSED in answers[0][1][2]
    assert stack.sends(unknown) == []
    assert len(stack.sends(known)) == 3  # signup code, number_verified, the reset code


def test_an_expired_reset_code_is_refused(stack: Stack) -> None:
    phone = "+14155550133"
    registered(stack, phone)
    client = stack.example.test_client()
    client.post("/reset", data={"phone": phone})
    code = stack.code(phone)
    stack.clock.advance(601)
    late = client.post("/reset/confirm", data={"code": code, "password": "another password"})
    assert late.status_code == 403 and accounts.RESET_REFUSED in said(late)
    assert login(stack.example.test_client(), phone).request.path == "/login/code"


def test_password_change_sends_a_notice(stack: Stack) -> None:
    phone = "+14155550140"
    client = logged_in(stack, phone)
    before = len(stack.sends(phone))
    wrong = client.post("/account/password", data={"current": "not it", "password": "a brand new one"})
    assert wrong.status_code == 403 and accounts.WRONG_PASSWORD in said(wrong)
    answer = client.post("/account/password", data={"current": PASSWORD, "password": "a brand new one"},
                         follow_redirects=True)  # fmt: skip
    assert accounts.PASSWORD_CHANGED in said(answer)
    notices = stack.sends(phone)
    assert len(notices) == before + 1 and not re.search(r"\d{6}", notices[0]["body"].replace(phone, ""))
    assert login(stack.example.test_client(), phone).status_code == 401
    assert login(stack.example.test_client(), phone, "a brand new one").request.path == "/login/code"


def test_phone_change_by_code_with_notices_to_both_numbers(stack: Stack) -> None:
    old, new = "+14155550150", "+14155550151"
    client = logged_in(stack, old)
    before = len(stack.sends(old))
    answer = client.post("/account/phone", data={"current": PASSWORD, "phone": new}, follow_redirects=True)
    assert answer.request.path == "/account/phone/confirm"
    assert accounts.PHONE_CODE_SENT.format(phone=new) in said(answer)
    assert len(stack.sends(old)) == before + 1  # phone_change_requested
    wrong = "000000" if stack.code(new) != "000000" else "111111"
    refused = client.post("/account/phone/confirm", data={"code": wrong})
    assert refused.status_code == 403 and accounts.WRONG_CODE in said(refused)
    assert stack.user(old) is not None

    answer = client.post("/account/phone/confirm", data={"code": stack.code(new)}, follow_redirects=True)
    assert accounts.PHONE_CHANGED.format(phone=new) in said(answer)
    assert stack.user(old) is None and stack.user(new)["is_verified"] == 1
    assert len(stack.sends(old)) == before + 2  # phone_changed to the old number
    assert len(stack.sends(new)) == 2  # the code, then phone_changed
    assert login(stack.example.test_client(), old).status_code == 401
    assert login(stack.example.test_client(), new).request.path == "/login/code"


def test_phone_change_refusals(stack: Stack) -> None:
    client = logged_in(stack, "+14155550152")
    registered(stack, "+14155550153")
    wrong = client.post("/account/phone", data={"current": "not it", "phone": "+14155550154"})
    assert wrong.status_code == 403 and accounts.WRONG_PASSWORD in said(wrong)
    taken = client.post("/account/phone", data={"current": PASSWORD, "phone": "+14155550153"})
    assert taken.status_code == 409 and accounts.TAKEN in said(taken)


def _approval_login(stack: Stack, phone: str, factor: str) -> tuple[FlaskClient, str]:
    client = registered(stack, phone, factor)
    page = login(client, phone)
    assert page.request.path == "/login/approval" and accounts.APPROVAL_SENT.format(phone="•••" + phone[-4:]) in said(
        page
    )
    with client.session_transaction() as session:
        approval_id = session["approval_id"]
    return client, approval_id


def test_login_approved_by_sms_reply_found_by_polling(stack: Stack) -> None:
    phone = "+14155550160"
    client, approval_id = _approval_login(stack, phone, "approval_sms")
    assert "YES" in stack.sends(phone)[0]["body"]
    assert client.get("/login/approval/status").get_json() == {"status": "pending"}
    waiting = client.post("/login/approval")
    assert waiting.status_code == 202 and accounts.APPROVAL_WAITING in said(waiting)
    assert client.get("/").request.path == "/" and client.get("/").status_code == 302  # not logged in yet

    stack.answer(approval_id, approve=True)
    assert client.get("/login/approval/status").get_json() == {"status": "approved"}
    assert stack.approval(approval_id)["via"] == "poll"
    answer = client.post("/login/approval", follow_redirects=True)
    assert accounts.WELCOME in said(answer) and answer.request.path == "/"


def test_login_by_call_told_by_the_webhook_and_a_denial(stack: Stack) -> None:
    phone = "+14155550161"
    client, approval_id = _approval_login(stack, phone, "approval_call")
    assert stack.sends(phone)[0]["channel"] == "call"
    stack.answer(approval_id, approve=True)
    work(stack.service)  # the worker POSTs approval.approved to the example's /webhook
    row = stack.approval(approval_id)
    assert row["status"] == "approved" and row["via"] == "webhook"
    answer = client.post("/login/approval", follow_redirects=True)
    assert accounts.WELCOME in said(answer)

    client.post("/logout")
    login(client, phone)
    with client.session_transaction() as session:
        denied_id = session["approval_id"]
    stack.answer(denied_id, approve=False)
    work(stack.service)
    assert stack.approval(denied_id)["status"] == "denied"
    answer = client.post("/login/approval", follow_redirects=True)
    assert answer.request.path == "/login" and accounts.APPROVAL_ENDED.format(status="denied") in said(answer)
    assert client.get("/").status_code == 302


def test_the_webhook_refuses_a_bad_signature(stack: Stack) -> None:
    body = b'{"type": "approval.approved", "timestamp": "2026-11-26T10:00:00Z", "data": {"id": "ap_x"}}'
    headers = {"webhook-id": "evt_forged", "webhook-timestamp": "1700000000", "webhook-signature": "v1,Zm9yZ2Vk"}
    assert stack.example.test_client().post("/webhook", data=body, headers=headers).status_code == 400


def test_login_with_an_authenticator_app(stack: Stack) -> None:
    phone = "+14155550170"
    client = logged_in(stack, phone)
    page = client.get("/account/totp")
    secret = re.search(r'id="secret">([A-Z2-7]+)<', page.get_data(as_text=True)).group(1)
    totp = pyotp.TOTP(secret)
    wrong = client.post("/account/totp", data={"code": "000000" if totp.at(stack.clock.now) != "000000" else "111111"})
    assert wrong.status_code == 403 and accounts.WRONG_CODE in said(wrong)
    answer = client.post("/account/totp", data={"code": totp.at(stack.clock.now)}, follow_redirects=True)
    assert accounts.TOTP_ON in said(answer) and stack.user(phone)["second_factor"] == "totp"

    client.post("/logout")
    assert login(client, phone).request.path == "/login/totp"
    refused = client.post("/login/totp", data={"code": totp.at(stack.clock.now)})  # each code once
    assert refused.status_code == 403 and accounts.WRONG_CODE in said(refused)
    answer = client.post("/login/totp", data={"code": totp.at(stack.clock.now + 30)}, follow_redirects=True)
    assert accounts.WELCOME in said(answer)


def test_the_second_factor_is_the_users_choice(stack: Stack) -> None:
    phone = "+14155550171"
    client = logged_in(stack, phone)
    answer = client.post("/account/factor", data={"second_factor": "approval_sms"}, follow_redirects=True)
    assert accounts.FACTOR_SAVED.format(name=accounts.SECOND_FACTORS["approval_sms"]) in said(answer)
    client.post("/logout")
    assert login(client, phone).request.path == "/login/approval"
    assert client.post("/account/factor", data={"second_factor": "totp"}).status_code == 302


def test_test_numbers_take_the_fixed_code_and_send_nothing(tmp_path: Path) -> None:
    stack = _stack(tmp_path, OTP_TEST_NUMBERS=f"{TEST_NUMBER}={FIXED_CODE}")
    try:
        client = stack.example.test_client()
        assert accounts.CODE_SENT.format(phone=TEST_NUMBER) in said(signup(client, TEST_NUMBER))
        wrong = client.post("/signup/verify", data={"code": "654321"})
        assert wrong.status_code == 403 and accounts.WRONG_CODE in said(wrong)
        answer = client.post("/signup/verify", data={"code": FIXED_CODE}, follow_redirects=True)
        assert accounts.VERIFIED in said(answer)
        assert login(client, TEST_NUMBER).request.path == "/login/code"
        answer = client.post("/login/code", data={"code": FIXED_CODE}, follow_redirects=True)
        assert accounts.WELCOME in said(answer)
        # no code went out
        assert [s for s in stack.sends(TEST_NUMBER) if re.search(r"\d{6}", s.get("body") or "")] == []
    finally:
        for server in stack.servers:
            server.shutdown()
