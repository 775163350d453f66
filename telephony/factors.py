"""TOTP factors (an authenticator app enrolled for an identity): the record, and the one rule that
judges a code attempt. Pure: the stores keep the records and apply `judge` atomically (the memory
store under its lock, Redis in store/lua/factor_attempt.lua, its twin).

How a factor's record is written down (flat string fields, as a verification's are):
  s  status: unverified | verified        i  identity           f  friendly name
  r  issuer                                c  created (ms)       a  verified (ms), once verified
  k  config (`totp.Config.to_text`)        x  the shared secret, sealed (CodeVault.seal_secret)
  g  the /v2 service's SID, if any         l  the last accepted time step
  w  the times (ms) of the latest wrong codes, comma-separated, at most MAX_WRONG
  n  the identity's keyed name (the stores add it: it names the identity's index)
`x` and `n` are among the fields an event never carries (eventlog.HIDDEN_FIELDS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from telephony.totp import Config

UNVERIFIED, VERIFIED = "unverified", "verified"
MAX_WRONG = 5  # wrong codes allowed ...
WRONG_WINDOW = 900  # ... in this many seconds (a sliding window), then every attempt waits
FACTOR_VERIFIED, FACTOR_DELETED = "factor.verified", "factor.deleted"
FACTOR_ID = re.compile(r"tf_[0-9a-f]{32}")  # fullmatch: `tf_`, the identity's tag (8 hex), 96 random bits
IDENTITY = re.compile(r"[A-Za-z0-9-]{8,64}")  # fullmatch; Twilio's Entity identity


@dataclass(frozen=True)
class Factor:
    id: str
    identity: str
    friendly_name: str
    issuer: str
    created_at: float
    config: Config
    sealed: str = ""  # the secret, encrypted; empty in an event's copy
    status: str = UNVERIFIED
    verified_at: float | None = None
    service: str = ""  # the /v2 service it belongs to ("" for /v1)
    last_step: int | None = None

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def to_record(f: Factor) -> dict[str, str]:
    record = {"s": f.status, "i": f.identity, "f": f.friendly_name, "r": f.issuer,
              "c": str(round(f.created_at * 1000)), "k": f.config.to_text(), "x": f.sealed}  # fmt: skip
    if f.verified_at is not None:
        record["a"] = str(round(f.verified_at * 1000))
    if f.service:
        record["g"] = f.service
    if f.last_step is not None:
        record["l"] = str(f.last_step)
    return record


def from_record(record: dict[str, str], factor_id: str) -> Factor:
    return Factor(
        id=factor_id, identity=record["i"], friendly_name=record["f"], issuer=record["r"],
        created_at=int(record["c"]) / 1000, config=Config.from_text(record["k"]), sealed=record.get("x", ""),
        status=record["s"], verified_at=int(record["a"]) / 1000 if record.get("a") else None,
        service=record.get("g", ""), last_step=int(record["l"]) if record.get("l") else None,
    )  # fmt: skip


class Verdict(StrEnum):
    """What a code attempt came to (the Lua twin returns these words)."""

    MISSING = "missing"  # no such factor
    UNVERIFIED = "unverified"  # a check of a factor never verified: nothing counted
    LIMITED = "limited"  # MAX_WRONG wrong codes within WRONG_WINDOW: refused, nothing counted
    WRONG = "wrong"  # matched no step: counted
    REPLAYED = "replayed"  # a right code of a step no later than the last accepted one: refused
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    changes: dict[str, str] = field(default_factory=dict)  # fields to write into the record
    retry_after_ms: int = 0
    event: str | None = None  # the lifecycle event the change makes


def judge(record: dict[str, str], step: int | None, now_ms: int, *, verified_only: bool) -> Judgement:
    """One attempt at `now_ms` whose code matched `step` (None: no step). The Lua twin is
    store/lua/factor_attempt.lua; keep the two in step.

    A right code is accepted once, and only for a step later than every step accepted before, so a
    code seen over a shoulder or replayed from a log is worth nothing. A wrong code counts; once
    MAX_WRONG fall within WRONG_WINDOW every attempt is refused until the oldest of them leaves it,
    so a guesser gets 5 tries per 15 minutes at a one-in-a-million code. A replay is not counted: it
    proves the caller saw a right code, which guessing does not get near."""
    if verified_only and record["s"] != VERIFIED:
        return Judgement(Verdict.UNVERIFIED)
    window = WRONG_WINDOW * 1000
    recent = [int(t) for t in record.get("w", "").split(",") if t and int(t) > now_ms - window]
    if len(recent) >= MAX_WRONG:
        return Judgement(Verdict.LIMITED, retry_after_ms=recent[-MAX_WRONG] + window - now_ms)
    if step is None:
        kept = [*recent, now_ms][-MAX_WRONG:]
        return Judgement(Verdict.WRONG, {"w": ",".join(str(t) for t in kept)})
    if record.get("l") and step <= int(record["l"]):
        return Judgement(Verdict.REPLAYED)
    changes = {"l": str(step), "w": ""}  # a right code forgives the wrong ones before it
    if record["s"] == VERIFIED:
        return Judgement(Verdict.ACCEPTED, changes)
    return Judgement(Verdict.ACCEPTED, {**changes, "s": VERIFIED, "a": str(now_ms)}, event=FACTOR_VERIFIED)
