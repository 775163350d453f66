"""The provider of OTP_TEST_NUMBERS: it sends nothing and takes no webhooks.

A verification to a test number keeps every other rule (limits, attempts, expiry); its sends are
recorded with provider `test`, so integration tests and app-store reviewers see what happened.
"""

from __future__ import annotations

import secrets

from telephony.providers.base import InboundSms, StatusReport, WebhookRequest

NAME = "test"


class TestNumberProvider:
    name = NAME
    dialect = "twiml"
    replies_inline = True

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
        return "TS" + secrets.token_hex(16)

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        return "TC" + secrets.token_hex(16)

    def verify(self, request: WebhookRequest) -> bool:
        return False  # nothing was sent: no carrier calls back about it, and no one may pretend to

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        return False

    def message_status(self, request: WebhookRequest) -> StatusReport:
        raise ValueError("test numbers get no receipts")

    def call_status(self, request: WebhookRequest) -> StatusReport:
        raise ValueError("test numbers get no call status")

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        raise ValueError("test numbers send no SMS")
