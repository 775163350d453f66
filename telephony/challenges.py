"""Challenges (Twilio Verify's `/Entities/{Identity}/Challenges`): one sign-in asked of a TOTP
factor, approved by a code the factor accepts. Pure: kept by the store as JSON, shown by /v2.

A challenge is `pending` until a right code approves it, and `expired` once its expiration date
passes while still pending (shown so; nothing needs to write it). The codes themselves are judged
by the factor (`factors.judge`), so replays and the wrong-code limit hold across all of a factor's
challenges, and a new challenge buys a guesser nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from telephony.documents import JsonDocument

PENDING, APPROVED, EXPIRED = "pending", "approved", "expired"
DEFAULT_TTL = 300  # seconds a challenge stays answerable, unless its ExpirationDate says otherwise
MAX_TTL = 3600  # Twilio's limit: an hour
KEPT = 86400  # seconds a challenge is still listed and fetched after it expired


@dataclass(frozen=True)
class Challenge(JsonDocument):
    sid: str  # YC + the factor's tag + 96 random bits
    factor_sid: str
    service: str
    identity: str
    created_at: float
    expires_at: float
    status: str = PENDING
    updated_at: float = 0.0
    responded_at: float | None = None
    message: str = ""
    fields: list[dict[str, str]] = field(default_factory=list)  # [{label, value}], shown to the user
    hidden: dict[str, str] = field(default_factory=dict)  # never shown to the user

    def status_at(self, now: float) -> str:
        """Its status as shown at `now`: a pending one past its expiration date is expired."""
        return EXPIRED if self.status == PENDING and now >= self.expires_at else self.status

    def approved(self, now: float) -> Challenge:
        return replace(self, status=APPROVED, updated_at=now, responded_at=now)

    @property
    def keep_until(self) -> float:
        return self.expires_at + KEPT
