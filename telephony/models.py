"""Verifications and provider attempts, and how they are written down (store) and shown (API)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
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


def number_tag(e164: str) -> str:
    """The Redis hash tag of a number's keys: a 32-bit digest of its prefix.

    Every key of a number, of its verifications and of its prefix shares it, so one Lua script
    can touch them all, also on Redis Cluster. It names a prefix of 10 000 numbers, not a number.
    """
    return hashlib.blake2b(prefix_of(e164).encode(), digest_size=4).hexdigest()


def tag_of(verification_id: str) -> str:
    return verification_id[3:11]


def new_verification_id(e164: str) -> str:
    """`vf_` + the number's tag + 132 random bits."""
    return f"vf_{number_tag(e164)}{secrets.token_urlsafe(16)[:22]}"


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
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# Short field names keep a pending verification small in Redis (see bench/).
_FIELDS = {
    "id": "id", "to": "to", "mode": "m", "locale": "l", "status": "status",
    "checks_left": "checks_left", "max_sends": "ms", "created_at": "c", "expires_at": "e",
    "mac": "mac", "sealed": "enc", "version": "ver",
}  # fmt: skip
_ATTEMPT_KEYS = ("send_no", "channel", "provider", "status", "at", "provider_id", "raw_status", "error")


def to_record(v: Verification) -> dict[str, str]:
    """Flat string fields (a Redis hash); `status`, `checks_left`, `mac`, `ver` are read by Lua."""
    record = {short: str(getattr(v, name)) for name, short in _FIELDS.items()}
    record["a"] = json.dumps([[getattr(a, k) for k in _ATTEMPT_KEYS] for a in v.attempts], separators=(",", ":"))
    record["x"] = json.dumps(v.extra, separators=(",", ":"))
    return record


def from_record(record: dict[str, str]) -> Verification:
    attempts = tuple(Attempt(**dict(zip(_ATTEMPT_KEYS, row, strict=True))) for row in json.loads(record["a"]))
    return Verification(
        id=record["id"],
        to=record["to"],
        mode=record["m"],
        locale=record["l"],
        status=record["status"],
        checks_left=int(record["checks_left"]),
        max_sends=int(record["ms"]),
        created_at=float(record["c"]),
        expires_at=float(record["e"]),
        mac=record["mac"],
        sealed=record["enc"],
        attempts=attempts,
        version=int(record["ver"]),
        extra=json.loads(record.get("x") or "{}"),
    )


def attempt_dict(a: Attempt) -> dict:
    return asdict(a)
