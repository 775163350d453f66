"""Key names, shared by both stores (the memory store uses them as dictionary keys).

Every key of a number carries the number's tag (a digest of its prefix, see `models.number_tag`),
so a number's limits, its prefix's statistics and its verifications share one Redis Cluster slot.
The check script in `redis.py` rebuilds `fails` and `approvals` from a verification's fields:
keep the two spellings in step.
"""

from __future__ import annotations

from telephony.models import number_tag, prefix_of, tag_of


def _key(tag: str, *parts: object) -> str:
    return f"otp:{{{tag}}}:" + ":".join(str(p) for p in parts)


def verification(verification_id: str) -> str:
    # The id's tag is already in braces: the key keeps only the id's random part (bench: memory).
    return _key(tag_of(verification_id), "v", verification_id[11:])


def latest(e164: str) -> str:
    return _key(number_tag(e164), "n", e164)


def opt_out(e164: str) -> str:
    return _key(number_tag(e164), "optout", e164)


def fails(e164: str) -> str:
    """Wrong codes for a number across all its verifications (a new code does not reset it)."""
    return _key(number_tag(e164), "fails", e164)


def number_limit(e164: str, window: int) -> str:
    return _key(number_tag(e164), "lim", f"n{window}", e164)


def prefix_limit(e164: str, window: int) -> str:
    return _key(number_tag(e164), "lim", f"p{window}", prefix_of(e164))


def pump_block(e164: str) -> str:
    return _key(number_tag(e164), "pump", "block", prefix_of(e164))


def pump_sends(e164: str, bucket: int) -> str:
    return _key(number_tag(e164), "pump", "s", prefix_of(e164), bucket)


def pump_approvals(e164: str, bucket: int) -> str:
    return _key(number_tag(e164), "pump", "a", prefix_of(e164), bucket)


def scope_limit(scope: str, window: int) -> str:
    """A counter for a client or a country: its own slot, one per scope."""
    return f"otp:{{{scope}}}:lim:{window}"


def event(scope: str, event_id: str) -> str:
    tag = tag_of(scope) if scope.startswith("vf_") else number_tag(scope)
    return _key(tag, "evt", scope, event_id)


OUTBOX = "otp:dev:outbox"
TIMERS = "otp:timers"
