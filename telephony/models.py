"""Verifications and provider attempts, and how they are written down (store) and shown (API)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CANCELED = "canceled"
    FAILED = "failed"
    MAX_ATTEMPTS = "max_attempts_reached"


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"


MODES = ("sms", "call", "auto")  # what a start may ask for; `auto` is SMS first, then a call
ID_PATTERN = re.compile(r"^vf_[0-9a-f]{8}[A-Za-z0-9_-]{22}$")


def prefix_of(e164: str) -> str:
    """The number minus its last 4 digits: the unit of prefix limits and SMS-pumping statistics."""
    return e164[:-4]


def tag_of(verification_id: str) -> str:
    """The hash tag a verification id carries: its number's (see `store.keys.KeyNames.tag`)."""
    return verification_id[3:11]


@dataclass(frozen=True)
class Attempt:
    """One provider attempt to deliver a send; a send under failover has several."""

    send_no: int  # the logical send this attempt belongs to (1 is the first send)
    channel: str
    provider: str
    status: str
    at: float
    provider_id: str | None = None
    raw_status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Verification:
    id: str
    to: str
    mode: str  # sms, call or auto, as asked at start
    locale: str
    status: str
    checks_left: int
    max_sends: int
    created_at: float
    expires_at: float
    mac: str
    sealed: str
    attempts: tuple[Attempt, ...] = ()
    version: int = 0
    extra: dict = field(default_factory=dict)  # small per-verification flags (e.g. fallback_done)

    @property
    def sends_used(self) -> int:
        return len({a.send_no for a in self.attempts})

    @property
    def sends_left(self) -> int:
        return max(0, self.max_sends - self.sends_used)

    @property
    def channel(self) -> str:
        """The channel of the newest send (or the first a start would use)."""
        if self.attempts:
            return self.attempts[-1].channel
        return Channel.CALL if self.mode == "call" else Channel.SMS

    @property
    def pending(self) -> bool:
        return self.status == Status.PENDING

    def with_changes(self, **changes: object) -> Verification:
        return replace(self, **changes)

    def replace_attempt(self, index: int, attempt: Attempt) -> Verification:
        attempts = list(self.attempts)
        attempts[index] = attempt
        return replace(self, attempts=tuple(attempts))


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))  # half the cost of datetime's


def public_view(v: Verification) -> dict:
    """The contract's JSON shape. Never holds the code, its MAC or its sealed copy."""
    return {
        "id": v.id,
        "to": v.to,
        "status": v.status,
        "channel": v.channel,
        "locale": v.locale,
        "checks_left": v.checks_left,
        "sends_left": v.sends_left,
        "created_at": iso(v.created_at),
        "expires_at": iso(v.expires_at),
        "sends": [
            {
                "channel": a.channel,
                "provider": a.provider,
                "provider_id": a.provider_id,
                "status": a.status,
                "at": iso(a.at),
            }
            for a in v.attempts
        ],
    }


# The record in Redis is a hash of short fields, each value 64 bytes at most, so Redis keeps it in
# its compact listpack encoding (bench/RESULTS.md: about 4 times smaller than a hashtable).
# Attempt i is `a<i>` = "send_no|channel|provider|status|at_ms", with its provider id in `i<i>`,
# the provider's raw status word in `r<i>` and a send error in `z<i>`, each only when there is
# one. The stores add `n` and `q`, the keyed names of the number and
# its prefix. The Lua scripts in store/lua/ read `s`, `k`, `h`, `e`, `v`, `n`, `q` and the
# attempt fields.
_FIELDS = {"to": "t", "status": "s", "checks_left": "k", "mac": "h", "sealed": "x", "version": "v"}
SHORT_TEXT = 60  # carrier status words and send errors are cut to this, to stay in the compact encoding


def to_record(v: Verification) -> dict[str, str]:
    """Flat string fields for a Redis hash (the id is in the key, not repeated here)."""
    record = {short: str(getattr(v, name)) for name, short in _FIELDS.items()}
    record["m"] = f"{v.mode}|{v.locale}|{v.max_sends}"
    record["c"] = str(round(v.created_at * 1000))
    record["e"] = str(round(v.expires_at * 1000))
    if v.extra:
        record["f"] = json.dumps(v.extra, separators=(",", ":"))
    for i, a in enumerate(v.attempts):
        record[f"a{i}"] = f"{a.send_no}|{a.channel}|{a.provider}|{a.status}|{round(a.at * 1000)}"
        if a.provider_id:  # whole: receipts are matched against it (carriers' ids fit in 64 bytes)
            record[f"i{i}"] = a.provider_id
        for prefix, value in (("r", a.raw_status), ("z", a.error)):
            if value:
                record[f"{prefix}{i}"] = value[:SHORT_TEXT]
    return record


def from_record(record: dict[str, str], verification_id: str) -> Verification:
    attempts = []
    while (row := record.get(f"a{len(attempts)}")) is not None:
        i = len(attempts)
        send_no, channel, provider, status, at = row.split("|")
        attempts.append(
            Attempt(int(send_no), channel, provider, status, int(at) / 1000,
                    record.get(f"i{i}"), record.get(f"r{i}"), record.get(f"z{i}"))
        )  # fmt: skip
    mode, locale, max_sends = record["m"].split("|")
    return Verification(
        id=verification_id,
        to=record["t"],
        mode=mode,
        locale=locale,
        status=record["s"],
        checks_left=int(record["k"]),
        max_sends=int(max_sends),
        created_at=int(record["c"]) / 1000,
        expires_at=int(record["e"]) / 1000,
        mac=record["h"],
        sealed=record["x"],
        attempts=tuple(attempts),
        version=int(record["v"]),
        extra=json.loads(record.get("f") or "{}"),
    )
