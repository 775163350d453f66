"""Abuse limits as data: which counters a send or a check touches, and what numbers may be used.

The store enforces a `SendPlan` atomically and in one round trip; this module only decides what
to count. Windows are fixed: a counter starts at the first hit and resets `window` seconds later.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from telephony.approvals import Approval
from telephony.errors import ConfigError, CountryNotAllowed, DestinationNotAllowed
from telephony.models import Verification, prefix_of
from telephony.notices import Notice
from telephony.phone import number_type, region_of

# Destinations refused unless OTP_ALLOWED_NUMBER_TYPES names their kind: they cannot receive a
# code, or a call or SMS to them earns its owner money (international revenue share fraud, SMS
# pumping). Geographic numbers are judged by their type...
REFUSED_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal_number",  # UK 070: forwards anywhere, at a premium
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}
# ...and numbers outside every country (region "001") by their country calling code. No person's
# phone has one outside the satellite and network ranges, so every such code, including any the
# ITU assigns later, is refused by default: 800 (international freephone) too, since no user
# receives codes on a freephone service and carriers charge the caller for it from many countries.
NON_GEOGRAPHIC_KINDS = {870: "satellite", 881: "satellite", 882: "international_network", 883: "international_network"}
NON_GEOGRAPHIC = "non_geographic"  # 800, 808, 878, 888, 979 and any other region-001 code
DESTINATION_KINDS = frozenset({*REFUSED_TYPES.values(), *NON_GEOGRAPHIC_KINDS.values(), NON_GEOGRAPHIC})


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

    def tripped(self, sends: float, approved: float) -> bool:
        """Enough sends in the window, too few of them approved: the prefix looks pumped.
        (The Redis twin is in store/lua/admit_number.lua.)"""
        return sends >= self.min_sends and approved < sends * self.min_ratio


@dataclass(frozen=True)
class SendPlan:
    """Everything one send must pass, checked and counted together."""

    number: str
    number_rules: tuple[Rule, ...]  # counted per number and, with prefix_rules, in the number's slot
    prefix_rules: tuple[Rule, ...]
    others: tuple[Counter, ...]  # per IP, API key, country: each its own slot
    pumping: Pumping | None
    check_opt_out: bool  # the send is an SMS: refuse an opted-out number
    kind: str = "s"  # what the number's counters count: "s" sends, "r" keyword replies, "t" notices

    @property
    def prefix(self) -> str:
        return prefix_of(self.number)


@dataclass(frozen=True)
class CheckPolicy:
    """What a check counts besides the verification: wrong codes per number, approvals per prefix."""

    fails: Rule | None
    pump_window: int | None
    # Through /v2: the service the verification must belong to; another's is as good as missing.
    service: str | None = None
    purpose: str | None = None  # likewise the purpose (None: any; a check by id that names none)


def buckets(now: float, window: int) -> tuple[int, float]:
    """The current bucket of a two-bucket sliding window, and the weight left to the previous one."""
    return int(now // window), 1 - (now % window) / window


class Outcome(StrEnum):
    """A store's answer to a `SendPlan`. Any refusal leaves the store exactly as it was."""

    OK = "ok"  # counted, and the verification written
    OPTED_OUT = "opted_out"
    LIMITED = "limited"
    PUMPING = "pumping"
    CONFLICT = "conflict"  # a save: the verification changed since it was read
    MISSING = "missing"  # a save: the verification expired


@dataclass(frozen=True)
class Create:
    """Write a new verification with the send (a start)."""

    verification: Verification


@dataclass(frozen=True)
class Save:
    """Compare-and-set a verification stepped from `previous` with the send (a resend)."""

    verification: Verification
    previous: Verification


@dataclass(frozen=True)
class CreateApproval:
    """Write a new approval request with its send."""

    approval: Approval


@dataclass(frozen=True)
class CreateNotice:
    """Write a new notice with its send."""

    notice: Notice


Write = Create | Save | CreateApproval | CreateNotice


@dataclass(frozen=True)
class Admission:
    outcome: Outcome
    retry_after: int = 0
    verification: Verification | None = None  # as stored, on OK with a write
    approval: Approval | None = None  # as stored, on OK with a CreateApproval
    notice: Notice | None = None  # as stored, on OK with a CreateNotice

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK


def parse_rules(name: str, text: str, default: str = "") -> tuple[Rule, ...]:
    """`5/600,10/86400` -> 5 per 10 minutes and 10 per day; `off` disables; empty means `default`.

    An empty value is the default rather than "no limit" so a blank line copied from .env.example
    never switches a protection off: only the explicit word does.
    """
    text = text.strip() or default
    if text.lower() == "off":
        return ()
    rules = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        count, _, window = part.partition("/")
        if not (count.isdigit() and window.isdigit() and int(count) > 0 and int(window) > 0):
            raise ConfigError(name, f"must look like 5/600,10/86400 (count/seconds), got {part!r}")
        rules.append(Rule(int(count), int(window)))
    return tuple(rules)


def check_destination(e164: str, allowed_countries: frozenset[str], allowed_types: frozenset[str] = frozenset()) -> str:
    """Refuse numbers we must not send to; returns the number's type for channel choice.

    `allowed_types` holds names from DESTINATION_KINDS (OTP_ALLOWED_NUMBER_TYPES) that pass anyway.
    """
    region = region_of(e164) or ""
    if allowed_countries and region not in allowed_countries:
        raise CountryNotAllowed("Codes cannot be sent to this country.")
    kind = number_type(e164)
    refused = destination_kind(e164, region, kind)
    if refused and refused not in allowed_types:
        raise DestinationNotAllowed(f"Codes cannot be sent to this kind of number ({refused}).")
    return "fixed_line" if kind == phonenumbers.PhoneNumberType.FIXED_LINE else "other"


def destination_kind(e164: str, region: str, kind: int) -> str | None:
    """The toll-fraud kind of a number (a DESTINATION_KINDS name), None for an ordinary one."""
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        # Every non-geographic country calling code has three digits (ITU E.164, 8xx and 9xx).
        return NON_GEOGRAPHIC_KINDS.get(int(e164[1:4]), NON_GEOGRAPHIC)
    return REFUSED_TYPES.get(kind)


def client_address(text: str) -> str:
    """An end user's IP address as counted: parsed, and an IPv4-mapped IPv6 address as the IPv4
    one it is (::ffff:203.0.113.7 is 203.0.113.7: one counter, not two). ValueError otherwise."""
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)
