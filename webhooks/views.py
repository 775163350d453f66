"""How the API shows the domain's objects: the contract's JSON shapes."""

from __future__ import annotations

import time
from typing import Any

from telephony.approvals import Approval
from telephony.factors import Factor
from telephony.models import Attempt, Verification
from telephony.notices import Notice


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))  # half the cost of datetime's


def verification_view(v: Verification) -> dict[str, Any]:
    """A verification as the contract shows it. Never holds the code, its MAC or its sealed copy."""
    return {
        "id": v.id,
        "to": v.to,
        "status": v.status,
        "channel": v.channel,
        "locale": v.locale,
        "purpose": v.purpose,
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


def approval_view(a: Approval, now: float | None = None) -> dict[str, Any]:
    """An approval as the contract shows it: `expired` once past `expires_at`, even before the
    worker has written it so."""
    status = a.shown_status(now) if now is not None else a.status
    return {
        "id": a.id, "to": a.to, "status": str(status), "channel": str(a.channel), "locale": a.locale,
        "message": a.message, "details": a.details, "hidden_details": a.hidden_details, "reference": a.reference,
        "created_at": iso(a.created_at), "expires_at": iso(a.expires_at),
        "responded_at": iso(a.responded_at) if a.responded_at is not None else None,
        "responded_via": a.responded_via,
        "sends": _sends(a.attempts),
    }  # fmt: skip


def _sends(attempts: tuple[Attempt, ...]) -> list[dict[str, Any]]:
    """An approval's or a notice's provider attempts, shaped as a verification's `sends`."""
    return [{"channel": str(s.channel), "provider": s.provider, "provider_id": s.provider_id, "status": str(s.status),
             "at": iso(s.at)} for s in attempts]  # fmt: skip


def notice_view(n: Notice) -> dict[str, Any]:
    """A notice as the contract shows it (never its text: the kind and locale say what it was)."""
    return {
        "id": n.id, "to": n.to, "kind": str(n.kind), "locale": n.locale, "status": str(n.status),
        "created_at": iso(n.created_at), "sends": _sends(n.attempts),
    }  # fmt: skip


def factor_view(f: Factor) -> dict[str, Any]:
    """A TOTP factor as the contract shows it: never its secret (the creation's answer alone adds it)."""
    return {
        "id": f.id,
        "identity": f.identity,
        "friendly_name": f.friendly_name,
        "issuer": f.issuer,
        "status": f.status,
        "created_at": iso(f.created_at),
        "verified_at": None if f.verified_at is None else iso(f.verified_at),
    }
