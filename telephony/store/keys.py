"""Key names, shared by both stores (the memory store uses them as dictionary keys).

No key name holds a phone number, a prefix or a client's address: each is named by a keyed HMAC
(`KeyNames`, keyed from SECRET_KEY through HKDF), so a copy of the store's key space, a
`MONITOR` or a slow log tells nothing about who is being verified. The verification id carries
the number's tag (a keyed 32-bit digest of its prefix), so every key of a number, of its prefix
and of its verifications shares one Redis Cluster slot and one script may touch them all.

During a SECRET_KEY rotation the names under each of SECRET_KEY_FALLBACKS are still read where a
record outlives the rotation (opt-outs, a number's newest verification); writes use the new key.
An opt-out, the one record that never expires, holds its number encrypted (`seal`), so the worker
can rename every opt-out under the new key (`RedisStore.rekey_opt_outs`) before the fallback goes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from telephony.models import prefix_of, tag_of

OUTBOX = "otp:dev:outbox"
SHORT_MARK = "______"  # ends the ids of /v2 verifications (KeyNames.new_verification_id)


def docs(kind: str) -> str:
    """Configuration documents of one kind (/v2 services, rate limits, buckets, webhooks): a hash of
    SID -> "<parent SID>|<JSON>". Few and small, read whole."""
    return f"otp:{{docs}}:{kind}"
TIMERS = "otp:timers"
# The event log and its deliveries: one slot (`{events}`), so each script over them is atomic.
EVENT_LOG = "otp:{events}:log"  # sorted set: event id -> score (~ms it entered the log; only grows)
EVENTS = "otp:{events}:e"  # hash: event id -> JSON (eventlog.Event)
DELIVERIES = "otp:{events}:d"  # hash: "<event id>|<target>" -> JSON (eventlog.Delivery)
DUE = "otp:{events}:due"  # sorted set: delivery key -> ms its next attempt is due (or its lease ends)
LAST_SCORE = "otp:{events}:last"
TAGS = "otp:{events}:tags"  # sorted set: tag -> ms when its outbox or expiries need the worker
HINTS = "otp:{events}:hints"  # hash: tag -> how many hints it had (relay.lua compares them)


def delivery_queue(target: str, resource: str) -> str:
    """The deliveries of one resource's events to one target, oldest first (only the head is due)."""
    return f"otp:{{events}}:q:{target}:{resource}"


def outbox(tag: str) -> str:
    """Events written with the changes of one tag's verifications, until the worker logs them."""
    return _key(tag, "ev")


def expiry_stubs(tag: str) -> str:
    """A hash: id -> the record as it was created (JSON, nothing hidden), for an expiry event whose
    record has already gone (a worker down longer than the grace). Removed with its expiry entry."""
    return _key(tag, "xs")


def expiries(tag: str) -> str:
    """A sorted set of the tag's verification ids by expiry (ms): the worker's expiry events."""
    return _key(tag, "x")


def _key(tag: str, *parts: object) -> str:
    return f"otp:{{{tag}}}:" + ":".join(str(p) for p in parts)


def verification(verification_id: str) -> str:
    # The id's tag is already in braces: the key keeps only the id's random part (bench: memory).
    return _key(tag_of(verification_id), "v", verification_id[11:])


def approval(approval_id: str) -> str:
    """An approval request: its id carries its number's tag, as a verification's does."""
    return _key(tag_of(approval_id), "ap", approval_id[11:])


def notice(notice_id: str) -> str:
    """A notice: its id carries its number's tag, as a verification's does."""
    return _key(tag_of(notice_id), "nt", notice_id[11:])


def fails(tag: str) -> str:
    """Wrong codes per number of one tag, across all their verifications (a new code does not reset
    them): a hash of number name -> "count|until ms", named from a verification id's tag alone."""
    return _key(tag, "f")


def pump(tag: str) -> str:
    """SMS-pumping statistics of the prefixes of one tag: a hash of "<prefix name>:s<bucket>" (sends)
    and ":a<bucket>" (approvals), named from a verification id's tag alone."""
    return _key(tag, "p")


def scope_limit(scope: str, window: int) -> str:
    """A counter for a client or a country (scope already a keyed name): its own slot."""
    return f"otp:{{{scope}}}:lim:{window}"


# TOTP factors and their /v2 challenges: every key of one identity's factors shares the tag its
# factor ids carry (a keyed digest of the identity, `KeyNames.identity_tag`), so one slot.


def factor(factor_id: str) -> str:
    """A factor's record (telephony/factors.py), a hash; the id's tag is already in braces."""
    return _key(tag_of(factor_id), "tf", factor_id[11:])


def factor_index(tag: str, identity_name: str) -> str:
    """A sorted set of an identity's factor ids by creation (ms); `identity_name` is keyed."""
    return _key(tag, "fi", identity_name)


def challenge(challenge_sid: str) -> str:
    """A /v2 challenge (`YC` + its factor's tag + 96 random bits), a JSON string kept a while past its expiry."""
    return _key(challenge_sid[2:10], "yc", challenge_sid[10:])


def challenge_index(factor_id: str) -> str:
    """A sorted set of a factor's challenge SIDs, each scored by when it is forgotten (ms)."""
    return _key(tag_of(factor_id), "fc", factor_id[11:])


class KeyNames:
    """Keyed names for numbers, prefixes and clients, under the current secret and older ones."""

    def __init__(self, secret: str | None = None, fallbacks: tuple[str, ...] = ()) -> None:
        # No secret (a store built bare, as in some tests): a random key, never an unkeyed digest.
        secret = secret or secrets.token_urlsafe(32)
        self._keys = [_derive(s) for s in (secret, *fallbacks)]
        self._ciphers = [AESGCM(_derive(s, b"otp number seal v1")) for s in (secret, *fallbacks)]

    @property
    def rotating(self) -> bool:
        return len(self._keys) > 1

    @property
    def generations(self) -> range:
        """Key indexes: 0 the current secret, then each of SECRET_KEY_FALLBACKS."""
        return range(len(self._keys))

    def seal(self, e164: str) -> str:
        """The number, encrypted under the current key: the value of a record that must outlive a
        rotation (an opt-out), so it can be named again under a new key without keeping the old one."""
        nonce = os.urandom(12)
        return _b64(nonce + self._ciphers[0].encrypt(nonce, e164.encode(), b"number"))

    def unseal(self, sealed: str) -> str | None:
        """The number a `seal` holds, under any configured key; None when none opens it."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        except ValueError:
            return None
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(raw[:12], raw[12:], b"number").decode()
            except (InvalidTag, ValueError):
                continue
        return None

    def _digest(self, text: str, size: int, key_index: int = 0) -> bytes:
        return hmac.new(self._keys[key_index], text.encode(), hashlib.sha256).digest()[:size]

    def tag(self, e164: str, key_index: int = 0) -> str:
        """The hash tag of a number's keys: 32 keyed bits of its prefix (names 10 000 numbers)."""
        return self._digest("prefix-tag:" + prefix_of(e164), 4, key_index).hex()

    def number(self, e164: str, key_index: int = 0) -> str:
        """A number's name in keys and records (72 keyed bits: no collision among billions of numbers)."""
        return _b64(self._digest("number:" + e164, 9, key_index))

    def prefix(self, e164: str, key_index: int = 0) -> str:
        """A prefix's name (its SMS-pumping statistics and limits)."""
        return _b64(self._digest("prefix:" + prefix_of(e164), 9, key_index))

    def client(self, kind: str, value: str) -> str:
        """A counter scope for a client identity or a country: `ip:…`, `key:…`, `country:…`."""
        return f"{kind}:{_b64(self._digest(f'{kind}:{value}', 12))}"

    def new_verification_id(self, e164: str, *, short: bool = False) -> str:
        """`vf_` + the number's tag + 132 random bits; `short`: 96 random bits and a `______` mark,
        so that the id and a Twilio `VE…` SID (32 hex digits) translate into each other without a
        lookup (`telephony.services.verification_sid`)."""
        if short:
            return f"vf_{self.tag(e164)}{secrets.token_urlsafe(12)}{SHORT_MARK}"
        return f"vf_{self.tag(e164)}{secrets.token_urlsafe(16)[:22]}"

    # --- keys of a number (one slot: the number's tag) -------------------------------------------

    def latest(self, e164: str, key_index: int = 0, scope: str = "") -> str:
        """The pointer to a number's newest verification; `scope`: of one /v2 service (its SID)."""
        return _key(self.tag(e164, key_index), "n", self.number(e164, key_index), *([scope] if scope else []))

    def approvals_of(self, e164: str) -> str:
        """A number's approvals by expiry (a sorted set): the ones an SMS reply may answer."""
        return _key(self.tag(e164), "ai", self.number(e164))

    def new_approval_id(self, e164: str) -> str:
        """`ap_` + the number's tag + 132 random bits, like a verification id."""
        return f"ap_{self.tag(e164)}{secrets.token_urlsafe(16)[:22]}"

    def new_notice_id(self, e164: str) -> str:
        """`nt_` + the number's tag + 132 random bits, like a verification id."""
        return f"nt_{self.tag(e164)}{secrets.token_urlsafe(16)[:22]}"

    def opt_out(self, e164: str, key_index: int = 0) -> str:
        return _key(self.tag(e164, key_index), "o", self.number(e164, key_index))

    def number_limit(self, e164: str, window: int, kind: str = "s") -> str:
        """Sends (`s`), keyword replies (`r`) or notices (`t`) to a number in a window."""
        return _key(self.tag(e164), "l", f"{kind}{window}", self.number(e164))

    def prefix_limit(self, e164: str, window: int) -> str:
        return _key(self.tag(e164), "l", f"p{window}", self.prefix(e164))

    def pump_block(self, e164: str) -> str:
        return _key(self.tag(e164), "b", self.prefix(e164))

    def event(self, scope: str, event_id: str) -> str:
        """A handled webhook event or nonce; `scope` is a verification id, a number or a name."""
        if scope.startswith("vf_"):
            return _key(tag_of(scope), "e", scope[11:], event_id)
        if scope.startswith("+"):
            return _key(self.tag(scope), "e", self.number(scope), event_id)
        return _key(scope, "e", event_id)

    # --- TOTP factors (one slot per identity: the identity's tag) ------------------------------

    def identity_tag(self, identity: str, scope: str = "", key_index: int = 0) -> str:
        """The hash tag of an identity's factors (in one /v2 service: `scope`): 32 keyed bits."""
        return self._digest(f"identity-tag:{scope}:{identity}", 4, key_index).hex()

    def identity(self, identity: str, scope: str = "", key_index: int = 0) -> str:
        """An identity's name in keys: identities are the application's user ids, kept out of key names."""
        return _b64(self._digest(f"identity:{scope}:{identity}", 12, key_index))

    def factor_index(self, identity: str, scope: str = "", key_index: int = 0) -> str:
        return factor_index(self.identity_tag(identity, scope, key_index), self.identity(identity, scope, key_index))

    def new_factor_id(self, identity: str, scope: str = "") -> str:
        """`tf_` + the identity's tag + 96 random bits, all hex: a Twilio `YF…` SID is `YF` + the rest."""
        return f"tf_{self.identity_tag(identity, scope)}{secrets.token_hex(12)}"


def _derive(secret: str, label: bytes = b"otp key names v1") -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
