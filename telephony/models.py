"""The domain's words: verifications, their provider attempts, and the vocabularies they use.

How a verification is written down lives in `store/record.py`; how the API shows it, in
`webhooks/views.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CANCELED = "canceled"
    FAILED = "failed"
    MAX_ATTEMPTS = "max_attempts_reached"


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"


class Mode(StrEnum):
    """What a start asks for: one channel, or `auto`: SMS first, then one call when it fails."""

    SMS = "sms"
    CALL = "call"
    AUTO = "auto"


class SendStatus(StrEnum):
    """A provider attempt's status, in the contract's words (each provider's are mapped to these)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"


# What a code is for: it words the message and binds the code (a signup code never passes a reset check).
PURPOSES = ("login", "signup", "password_reset", "phone_change", "transaction")
SHORT_TEXT = 60  # carrier status words and send errors are cut to this (the store keeps them compact)
ID_PATTERN = re.compile(r"^vf_[0-9a-f]{8}[A-Za-z0-9_-]{22}$")


def prefix_of(e164: str) -> str:
    """The number minus its last 4 digits: the unit of prefix limits and SMS-pumping statistics."""
    return e164[:-4]


def pending_scope(service: str, purpose: str) -> str:
    return service or ("" if purpose == "login" else f"purpose-{purpose}")


def tag_of(verification_id: str) -> str:
    """The hash tag a verification id carries: its number's (see `store.keys.KeyNames.tag`)."""
    return verification_id[3:11]


@dataclass(frozen=True)
class Attempt:
    """One provider attempt to deliver a send; a send under failover has several."""

    send_no: int  # the logical send this attempt belongs to (1 is the first send)
    channel: Channel
    provider: str
    status: SendStatus
    at: float
    provider_id: str | None = None
    raw_status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Verification:
    id: str
    to: str
    mode: Mode
    locale: str
    status: Status
    checks_left: int
    max_sends: int
    created_at: float
    expires_at: float
    mac: str
    sealed: str
    attempts: tuple[Attempt, ...] = ()
    version: int = 0
    fell_back: bool = False  # the one fallback call of `auto` was placed (or `auto` called first)
    # Set by a start through /v2 (a service's settings, copied so later requests read them with
    # the verification in one round trip); empty: the environment's defaults.
    service: str = ""  # the VA… SID; its pending verification per number is its own
    brand: str = ""  # said in every SMS and call instead of OTP_BRAND
    amount: str = ""  # PSD2: said in the messages and bound to the code with `payee`
    payee: str = ""
    press_key: bool | None = None  # the press-a-key gate before the code (None: OTP_VOICE_PRESS_KEY)
    app_hash: str = ""  # the Android SMS Retriever line the SMS ends with
    purpose: str = "login"  # one of PURPOSES: its pending verification per number is its own
    test: bool = False  # to one of OTP_TEST_NUMBERS: kept out of its prefix's SMS-pumping statistics

    @property
    def scope(self) -> str:
        """Whose pending verification of the number this is: a /v2 service's (its SID), or a /v1
        purpose's (login's keeps the plain name older releases used)."""
        return pending_scope(self.service, self.purpose)

    @property
    def binding(self) -> tuple[str, str]:
        """What a check must repeat for the code to match (PSD2 dynamic linking)."""
        return self.amount, self.payee

    @property
    def sends_used(self) -> int:
        return len({a.send_no for a in self.attempts})

    @property
    def sends_left(self) -> int:
        return max(0, self.max_sends - self.sends_used)

    @property
    def channel(self) -> Channel:
        """The channel of the newest send (or the first a start would use)."""
        if self.attempts:
            return self.attempts[-1].channel
        return Channel.CALL if self.mode == Mode.CALL else Channel.SMS

    @property
    def pending(self) -> bool:
        return self.status == Status.PENDING

    def with_changes(self, **changes: Any) -> Verification:
        return replace(self, **changes)

    def replace_attempt(self, index: int, attempt: Attempt) -> Verification:
        attempts = list(self.attempts)
        attempts[index] = attempt
        return replace(self, attempts=tuple(attempts))
