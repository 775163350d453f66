"""`flask otp simulate` against a served instance for every provider: what it posts is signed and
shaped as the provider's spec says, so the adapter accepts and reads it (the console provider and
Twilio are covered in tests/test_cli.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses
from carriers import NUMBER, CarrierApi, config
from flask import Flask

from telephony.errors import OptedOut

OTHER = "+14155550123"  # a number with no verification pending: its next start meets the opt-out


@pytest.fixture(autouse=True)
def carrier_apis() -> Iterator[None]:
    """The carriers' APIs under `responses` while the served apps run (conftest's `served`)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        CarrierApi(mock)
        yield


@pytest.mark.parametrize("provider", ["plivo", "signalwire", "flowroute"])
def test_receipts_and_inbound_sms(served: Callable[..., Flask], provider: str) -> None:
    app = served(**config(provider))
    verification, runner = app.extensions["verification"], app.test_cli_runner()
    vid = verification.start(NUMBER, "sms").id
    result = runner.invoke(args=["otp", "simulate", "receipt", vid, "--status", "delivered"])
    assert "HTTP 204" in result.output, result.output
    assert verification.get(vid).attempts[0].status == "delivered"
    stop = runner.invoke(args=["otp", "simulate", "inbound", OTHER, "STOP"])
    assert stop.output.startswith("HTTP 200"), stop.output
    with pytest.raises(OptedOut):
        verification.start(OTHER, "sms")


@pytest.mark.parametrize("provider", ["plivo", "signalwire"])
def test_calls(served: Callable[..., Flask], provider: str) -> None:
    app = served(**config(provider))
    verification, runner = app.extensions["verification"], app.test_cli_runner()
    vid = verification.start(NUMBER, "call").id
    heard = runner.invoke(args=["otp", "simulate", "answer", vid])
    assert heard.exit_code == 0, heard.output
    assert sum(line.isdigit() for line in heard.output.splitlines()) >= 6
    status = runner.invoke(args=["otp", "simulate", "call-status", vid, "--status", "completed"])
    assert "HTTP 204" in status.output, status.output
    assert verification.get(vid).attempts[0].status == "completed"
