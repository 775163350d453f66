"""Abuse limits as data: which counters a send or a check touches, and what numbers may be used.

The store enforces a `SendPlan` atomically and in one round trip; this module only decides what
to count. Windows are fixed: a counter starts at the first hit and resets `window` seconds later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import phonenumbers

from telephony.errors import ConfigError, CountryNotAllowed, InvalidPhone
from telephony.models import prefix_of
from telephony.phone import number_type, region_of

# Number types that cannot receive a code or that cost the sender money (IRSF, SMS pumping).
REFUSED_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium-rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared-cost",
    phonenumbers.PhoneNumberType.UAN: "universal access",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True)
class Rule:
    limit: int
    window: int  # seconds


@dataclass(frozen=True)
class Origin:
    """Who asked for a send: counted by IP and by API key (never stored in the clear)."""

    ip: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class Counter:
    """One counter a send increments: `scope` names what is counted (`ip:…`, `country:US`)."""

    scope: str
    rule: Rule


@dataclass(frozen=True)
class Pumping:
    """SMS-pumping guard for a prefix: too few approvals among enough sends blocks the prefix."""

    min_sends: int
    min_ratio: float
    window: int
    cooloff: int


@dataclass(frozen=True)
class SendPlan:
    """Everything one send must pass, checked and counted together."""

    number: str
    number_rules: tuple[Rule, ...]  # counted per number and, with prefix_rules, in the number's slot
    prefix_rules: tuple[Rule, ...]
    others: tuple[Counter, ...]  # per IP, API key, country: each its own slot
    pumping: Pumping | None
    check_opt_out: bool  # the send is an SMS: refuse an opted-out number

    @property
    def prefix(self) -> str:
        return prefix_of(self.number)


@dataclass(frozen=True)
class CheckPolicy:
    """What a check counts besides the verification: wrong codes per number, approvals per prefix."""

    fails: Rule | None
    pump_window: int | None
    now: float

    @property
    def bucket(self) -> int:
        return int(self.now // self.pump_window) if self.pump_window else -1


def buckets(now: float, window: int) -> tuple[int, float]:
    """The current bucket of a two-bucket sliding window, and the weight left to the previous one."""
    return int(now // window), 1 - (now % window) / window


@dataclass(frozen=True)
class Admission:
    outcome: str  # ok, opted_out, limited, pumping
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_rules(name: str, text: str) -> tuple[Rule, ...]:
    """`5/600,10/86400` -> 5 per 10 minutes and 10 per day; empty disables."""
    rules = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        count, _, window = part.partition("/")
        if not (count.isdigit() and window.isdigit() and int(count) > 0 and int(window) > 0):
            raise ConfigError(name, f"must look like 5/600,10/86400 (count/seconds), got {part!r}")
        rules.append(Rule(int(count), int(window)))
    return tuple(rules)


def client_scope(kind: str, value: str) -> str:
    """A counter scope for a client identity, hashed so raw IPs and API keys never reach the store."""
    return f"{kind}:{hashlib.blake2b(value.encode(), digest_size=12).hexdigest()}"


def check_destination(e164: str, allowed_countries: frozenset[str]) -> str:
    """Refuse numbers we must not send to; returns the number's type for channel choice."""
    if allowed_countries and (region_of(e164) or "") not in allowed_countries:
        raise CountryNotAllowed("Codes cannot be sent to this country.")
    kind = number_type(e164)
    if kind in REFUSED_TYPES:
        raise InvalidPhone(f"This is a {REFUSED_TYPES[kind]} number; it cannot receive codes.")
    return "fixed_line" if kind == phonenumbers.PhoneNumberType.FIXED_LINE else "other"
