"""One status vocabulary: each provider's words map to the contract's send statuses through one
table per provider; an unknown word gives None (the service keeps it raw)."""

from __future__ import annotations

import json

import pytest
from carriers import FLOWROUTE, PLIVO, SIGNALWIRE, call_status, receipt

from telephony.providers import FormData, WebhookRequest, console, flowroute, plivo, signalwire, twilio
from telephony.providers.flowroute import FlowrouteProvider
from telephony.providers.plivo import PlivoProvider
from telephony.providers.signalwire import SignalWireProvider
from telephony.store import MemoryStore

CONTRACT = {"queued", "sent", "delivered", "undelivered", "failed", "ringing", "answered", "completed", "busy",
            "no-answer"}  # fmt: skip
MESSAGE = {"queued", "sent", "delivered", "undelivered", "failed"}
CALL = {"queued", "ringing", "answered", "completed", "busy", "no-answer", "failed"}


def adapters() -> dict[str, object]:
    return {
        "twilio": twilio.TwilioProvider("AC" + "0" * 32, "token", "+15005550006", timeout=1, ttl=600),
        "plivo": PlivoProvider(PLIVO["PLIVO_AUTH_ID"], "token", PLIVO["PLIVO_FROM"], MemoryStore(), timeout=1),
        "signalwire": SignalWireProvider(
            "p", "t", "example.signalwire.com", SIGNALWIRE["SIGNALWIRE_FROM"], "k", timeout=1, ttl=600
        ),
        "flowroute": FlowrouteProvider("a", "s", FLOWROUTE["FLOWROUTE_FROM"], "hook", timeout=1),
        "console": console.ConsoleProvider(store=None),  # type: ignore[arg-type]  # parsing needs no store
    }


def webhook(provider: str, params: dict) -> WebhookRequest:
    if provider == "flowroute":
        return WebhookRequest(url="https://x/", method="POST", headers={}, body=json.dumps(params).encode())
    return WebhookRequest(
        url="https://x/", method="POST", headers={}, form=FormData({k: [v] for k, v in params.items()})
    )


@pytest.mark.parametrize(
    ("messages", "calls"),
    [(twilio.MESSAGE_STATUSES, twilio.CALL_STATUSES), (plivo.MESSAGE_STATUSES, plivo.CALL_STATUSES),
     (signalwire.MESSAGE_STATUSES, signalwire.CALL_STATUSES), (flowroute.MESSAGE_STATUSES, {})],
)  # fmt: skip
def test_every_table_speaks_only_the_contracts_words(messages: dict, calls: dict) -> None:
    assert set(messages.values()) <= MESSAGE and set(calls.values()) <= CALL
    assert set(messages.values()) | set(calls.values()) <= CONTRACT


MESSAGE_CASES = {
    "twilio": {"queued": "queued", "sending": "sent", "sent": "sent", "delivered": "delivered",
               "undelivered": "undelivered", "failed": "failed", "receiving": None, "bogus": None},
    "signalwire": {"queued": "queued", "initiated": "queued", "sending": "sent", "sent": "sent",
                   "delivered": "delivered", "undelivered": "undelivered", "failed": "failed", "bogus": None},
    "plivo": {"queued": "queued", "sent": "sent", "delivered": "delivered", "undelivered": "undelivered",
              "failed": "failed", "rejected": "failed", "bogus": None},
    "flowroute": {"delivered": "delivered", "DELIVERED": "delivered", "failed": "failed",
                  "undelivered": "undelivered", "message expired": "failed", "smsc reject": "failed",
                  "Delivery Failure": "failed", "smsc submit": "sent", "bogus": None},
    "console": {"queued": "queued", "sent": "sent", "delivered": "delivered", "undelivered": "undelivered",
                "failed": "failed", "bogus": None},
}  # fmt: skip
CALL_CASES = {
    "twilio": {"initiated": "queued", "ringing": "ringing", "in-progress": "answered", "completed": "completed",
               "busy": "busy", "no-answer": "no-answer", "failed": "failed", "canceled": "failed", "bogus": None},
    "signalwire": {"queued": "queued", "ringing": "ringing", "in-progress": "answered", "completed": "completed",
                   "busy": "busy", "no-answer": "no-answer", "failed": "failed", "bogus": None},
    "plivo": {"ringing": "ringing", "in-progress": "answered", "completed": "completed", "busy": "busy",
              "no-answer": "no-answer", "timeout": "no-answer", "failed": "failed", "cancel": "failed",
              "bogus": None},
    "console": {"ringing": "ringing", "answered": "answered", "completed": "completed", "busy": "busy",
                "no-answer": "no-answer", "failed": "failed", "in-progress": None},
}  # fmt: skip


@pytest.mark.parametrize("provider", list(MESSAGE_CASES))
def test_receipt_words_map_through_the_table(provider: str) -> None:
    adapter = adapters()[provider]
    for raw, expected in MESSAGE_CASES[provider].items():
        report = adapter.message_status(webhook(provider, receipt(provider, "m-1", raw)))
        assert (report.provider_id, report.status, report.raw) == ("m-1", expected, raw), raw


@pytest.mark.parametrize("provider", list(CALL_CASES))
def test_call_words_map_through_the_table(provider: str) -> None:
    adapter = adapters()[provider]
    for raw, expected in CALL_CASES[provider].items():
        report = adapter.call_status(webhook(provider, call_status(provider, "c-1", raw)))
        assert (report.provider_id, report.status, report.raw) == ("c-1", expected, raw), raw


def test_flowroute_level_one_delivered_only_means_sent() -> None:
    adapter = adapters()["flowroute"]
    first = adapter.message_status(webhook("flowroute", receipt("flowroute", "mdr2-1", "delivered", level=1)))
    final = adapter.message_status(webhook("flowroute", receipt("flowroute", "mdr2-1", "delivered", level=2)))
    assert (first.status, final.status) == ("sent", "delivered")


def test_plivo_hangup_without_call_status_falls_back_to_the_cause_and_request_uuid() -> None:
    adapter = adapters()["plivo"]
    form = {"CallUUID": "leg-1", "ALegRequestUUID": "req-1", "HangupCause": "USER_BUSY"}
    report = adapter.call_status(webhook("plivo", form))
    assert (report.provider_id, report.status, report.raw) == ("req-1", "busy", "USER_BUSY")
    only_leg = adapter.call_status(webhook("plivo", {"CallUUID": "leg-1", "CallStatus": "completed"}))
    assert only_leg.provider_id == "leg-1"


@pytest.mark.parametrize(
    ("provider", "params"),
    [("plivo", {"Status": "sent"}), ("plivo", {"MessageUUID": "m"}), ("signalwire", {"MessageSid": "m"}),
     ("flowroute", {"data": {"id": "m", "attributes": {}}}), ("flowroute", {"data": {"attributes": {"status": "x"}}}),
     ("flowroute", ["not", "an", "object"])],
)  # fmt: skip
def test_receipts_missing_fields_are_refused(provider: str, params: object) -> None:
    with pytest.raises(ValueError, match=r"missing|JSON"):
        adapters()[provider].message_status(webhook(provider, params))  # type: ignore[arg-type]


def test_flowroute_refuses_a_body_that_is_not_json() -> None:
    bad = WebhookRequest(url="https://x/", method="POST", headers={}, body=b"To=1&From=2")
    with pytest.raises(ValueError, match="JSON"):
        adapters()["flowroute"].inbound_sms(bad)
