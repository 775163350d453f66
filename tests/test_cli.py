"""`flask otp ...` through Flask's CLI runner: send, check, try, urls, simulate."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
import responses
from conftest import BASE_CONFIG, TWILIO, TWILIO_API
from flask import Flask

from app import create_app
from telephony.errors import OptedOut
from telephony.store import MemoryStore

NUMBER = "+14155550100"


def code_in_outbox(app: Flask) -> str:
    body = app.extensions["verification"].store.outbox_list()[0]["body"]
    return re.search(r"\b(\d{6})\b", body).group(1)


@pytest.fixture
def app() -> Flask:
    return create_app(BASE_CONFIG, store=MemoryStore())


def test_every_command_has_help(app: Flask) -> None:
    runner = app.test_cli_runner()
    for command in (["send"], ["check"], ["try"], ["urls"], ["worker"], ["simulate"], ["simulate", "answer"],
                    ["simulate", "receipt"], ["simulate", "call-status"], ["simulate", "inbound"]):  # fmt: skip
        result = runner.invoke(args=["otp", *command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_send_then_check(app: Flask) -> None:
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["otp", "send", "+1 415 555 0100", "--channel", "sms"])
    assert sent.exit_code == 0
    vid = re.search(r'"id": "(vf_[^"]+)"', sent.output).group(1)
    code = code_in_outbox(app)
    assert code not in sent.output
    wrong = runner.invoke(args=["otp", "check", vid, "000000" if code != "000000" else "111111"])
    assert wrong.exit_code == 1 and "4 checks left" in wrong.output
    right = runner.invoke(args=["otp", "check", vid, code])
    assert right.exit_code == 0 and right.output.startswith("approved")
    again = runner.invoke(args=["otp", "check", vid, code])
    assert again.exit_code == 1 and "not_pending" in again.output
    bad = runner.invoke(args=["otp", "send", "12"])
    assert bad.exit_code == 1 and "invalid_phone_number" in bad.output


class Typist(io.RawIOBase):
    """Standard input that types each answer when asked, so answers may depend on earlier output."""

    def __init__(self, answers: list[Callable[[], str]]) -> None:
        self._answers = iter(answers)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        line = next(self._answers, lambda: "")().encode()
        buffer[: len(line)] = line
        return len(line)


def test_try_is_interactive(app: Flask) -> None:
    answers = [lambda: NUMBER + "\n", lambda: "999999\n" if code_in_outbox(app) != "999999" else "888888\n",
               lambda: code_in_outbox(app) + "\n"]  # fmt: skip
    result = app.test_cli_runner().invoke(args=["otp", "try"], input=io.BufferedReader(Typist(answers)))
    assert result.exit_code == 0, result.output
    assert "Code sent by sms to +14155550100" in result.output
    assert "That code is wrong; 4 tries left." in result.output
    assert result.output.rstrip().endswith("Verified!")


def test_urls_lists_what_to_paste() -> None:
    app = create_app({**BASE_CONFIG, "SMS_PROVIDER": "twilio,flowroute", "VOICE_PROVIDER": "twilio", **TWILIO,
                      "FLOWROUTE_ACCESS_KEY": "a", "FLOWROUTE_SECRET_KEY": "b", "FLOWROUTE_FROM": "+12065550100",
                      "FLOWROUTE_WEBHOOK_SECRET": "s"}, store=MemoryStore())  # fmt: skip
    output = app.test_cli_runner().invoke(args=["otp", "urls"]).output
    assert "twilio: inbound SMS (POST) -> https://verify.example.com/webhooks/twilio/sms" in output
    assert "flowroute: inbound SMS (POST) -> https://verify.example.com/webhooks/flowroute/sms?key=<" in output
    assert "key=s" not in output


def test_simulate_a_whole_call_with_the_console_provider(served) -> None:
    app = served()
    runner = app.test_cli_runner()
    vid = app.extensions["verification"].start(NUMBER, "call").id
    heard = runner.invoke(args=["otp", "simulate", "answer", vid, "--press", "1", "--press", "9"])
    assert heard.exit_code == 0, heard.output
    lines = heard.output.splitlines()
    digits = [line for line in lines if line.isdigit()]
    assert len(digits) == 24  # read twice, then again after pressing 1
    assert lines[lines.index("[presses 9]") + 1] == "Goodbye."
    status = runner.invoke(args=["otp", "simulate", "call-status", vid, "--status", "completed"])
    assert "HTTP 204" in status.output
    assert app.extensions["verification"].get(vid).attempts[0].status == "completed"


def test_simulate_signs_like_twilio(served) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        mock.add(responses.POST, f"{TWILIO_API}/Messages.json", json={"sid": "SM" + "1" * 32, "status": "queued"},
                 status=201)  # fmt: skip
        app = served(OTP_PROVIDER="twilio", **TWILIO)
        runner = app.test_cli_runner()
        vid = app.extensions["verification"].start(NUMBER, "sms").id
        result = runner.invoke(args=["otp", "simulate", "receipt", vid, "--status", "delivered"])
        assert "HTTP 204" in result.output, result.output
        assert app.extensions["verification"].get(vid).attempts[0].status == "delivered"
        reply = runner.invoke(args=["otp", "simulate", "inbound", NUMBER, "HELP"])
        assert "HTTP 200: Verify verification codes. Reply CALL" in reply.output
        stop = runner.invoke(args=["otp", "simulate", "inbound", NUMBER, "STOP"])
        assert "no longer receive" in stop.output
        app.extensions["verification"].cancel(vid)
        with pytest.raises(OptedOut):  # the STOP was recorded: no SMS to the number any more
            app.extensions["verification"].start(NUMBER, "sms")
