"""Authenticator apps (TOTP factors) and their /v2 challenges: what /v1/factors, /v2 Entities, the
CLI and the demo ask of the domain.

A code is judged in two steps: here, the code is matched to a time step with the secret (opened
from its sealed copy, never stored in the clear); then the store's one atomic attempt decides
what that step is worth (`factors.judge`: replays, the wrong-code limit, the first verification
and its event). Every factor belongs to one scope: "" for /v1, a service's SID for /v2, and is
found through no other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from telephony import totp
from telephony.challenges import APPROVED, DEFAULT_TTL, EXPIRED, MAX_TTL, PENDING, Challenge
from telephony.codes import CodeVault
from telephony.errors import ChallengeExpired, FactorUnverified, InvalidRequest, NotFound, RateLimited
from telephony.events import event
from telephony.factors import FACTOR_ID, IDENTITY, Factor, Verdict
from telephony.store import Store

NAME_MAX = 64  # Twilio's FriendlyName limit; also the issuer's


class FactorService:
    def __init__(self, store: Store, vault: CodeVault, *, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.vault = vault
        self.clock = clock or store.now

    def enrol(
        self, identity: str, friendly_name: str, issuer: str, *, config: totp.Config = totp.DEFAULT,
        secret: str | None = None, scope: str = "",
    ) -> tuple[Factor, str]:  # fmt: skip
        """A new, unverified factor and its secret (a fresh one unless the application gives its own):
        the one time the secret leaves the service."""
        identity = valid_identity(identity)
        secret = secret or totp.new_secret()
        fid = self.store.names.new_factor_id(identity, scope)
        factor = Factor(
            id=fid, identity=identity, friendly_name=valid_name(friendly_name, "friendly_name"),
            issuer=valid_name(issuer, "issuer"), created_at=round(self.clock(), 3), config=config,
            sealed=self.vault.seal_secret(fid, secret), service=scope,
        )  # fmt: skip
        self.store.factor_create(factor)
        event("factor.enrolled", factor=fid, scope=scope or None)
        return factor, secret

    def get(self, factor_id: str, scope: str = "", identity: str | None = None) -> Factor:
        found = self.store.factor_get(factor_id) if FACTOR_ID.fullmatch(factor_id) else None
        if found is None or found.service != scope or identity not in (None, found.identity):
            raise NotFound("No such factor.")
        return found

    def for_identity(self, identity: str, scope: str = "") -> list[Factor]:
        return self.store.factor_list(valid_identity(identity), scope)

    def uri(self, factor: Factor, secret: str) -> str:
        """The provisioning URI an authenticator app scans: issuer, then the factor's name."""
        return totp.uri(secret, factor.issuer, factor.friendly_name, factor.config)

    def verify(self, factor_id: str, code: object, scope: str = "", identity: str | None = None) -> tuple[Factor, bool]:
        """Judge a code; the first right one makes the factor verified."""
        return self._attempt(self.get(factor_id, scope, identity), code, verified_only=False)

    def check(self, factor_id: str, code: object, scope: str = "", identity: str | None = None) -> tuple[Factor, bool]:
        """Judge a code of a verified factor (FactorUnverified before its first right code)."""
        return self._attempt(self.get(factor_id, scope, identity), code, verified_only=True)

    def delete(self, factor_id: str, scope: str = "", identity: str | None = None) -> None:
        if not self.store.factor_delete(self.get(factor_id, scope, identity).id):
            raise NotFound("No such factor.")
        event("factor.deleted", factor=factor_id)

    def _attempt(self, factor: Factor, code: object, *, verified_only: bool) -> tuple[Factor, bool]:
        candidate = valid_code(code)
        now = self.clock()
        step = totp.matching_step(self.vault.open_secret(factor.id, factor.sealed), candidate, now, factor.config)
        judged, after = self.store.factor_attempt(factor.id, step, now, verified_only=verified_only)
        if judged.verdict is Verdict.MISSING or after is None:
            raise NotFound("No such factor.")
        if judged.verdict is Verdict.UNVERIFIED:
            raise FactorUnverified("This factor was never verified: verify it with a code first.")
        if judged.verdict is Verdict.LIMITED:
            event("factor.locked", factor=factor.id)
            raise RateLimited("Too many wrong codes; try again later.", retry_after=-(-judged.retry_after_ms // 1000))
        event("factor.checked", factor=factor.id, outcome=judged.verdict)
        return after, judged.verdict is Verdict.ACCEPTED

    # --- /v2 challenges ----------------------------------------------------------------------------

    def challenge(
        self, factor_id: str, scope: str, identity: str, code: object | None, *, expires_at: float | None = None,
        message: str = "", fields: list[dict[str, str]] | None = None, hidden: dict[str, str] | None = None,
    ) -> Challenge:  # fmt: skip
        """A new challenge of a verified factor; with a code, answered at once (approved when right)."""
        factor = self.get(factor_id, scope, identity)
        if not factor.verified:
            raise FactorUnverified("This factor was never verified: verify it with a code first.")
        now = round(self.clock(), 3)
        expires = now + DEFAULT_TTL if expires_at is None else expires_at
        if not now < expires <= now + MAX_TTL:
            raise InvalidRequest("ExpirationDate must be in the next hour.")
        made = Challenge(
            sid=f"YC{factor.id[3:11]}{secrets.token_hex(12)}", factor_sid=factor.id, service=scope,
            identity=identity, created_at=now, updated_at=now, expires_at=expires, message=message,
            fields=fields or [], hidden=hidden or {},
        )  # fmt: skip
        if code is not None and self._attempt(factor, code, verified_only=True)[1]:
            made = made.approved(now)
        self._keep(made)
        return made

    def answer(self, challenge_sid: str, scope: str, identity: str, code: object) -> Challenge:
        """A code for a pending challenge; an approved one is shown as it is, an expired one refused."""
        found = self.get_challenge(challenge_sid, scope, identity)
        status = found.status_at(self.clock())
        if status == EXPIRED:
            raise ChallengeExpired("This challenge has expired; create a new one.")
        if status != PENDING:
            return found
        factor = self.get(found.factor_sid, scope, identity)
        if not self._attempt(factor, code, verified_only=True)[1]:
            return found
        approved = found.approved(round(self.clock(), 3))
        self._keep(approved)  # two right codes at once both approve it: the same outcome either way
        return approved

    def get_challenge(self, challenge_sid: str, scope: str, identity: str) -> Challenge:
        text = self.store.challenge_get(challenge_sid) if _is_challenge_sid(challenge_sid) else None
        found = Challenge.from_json(text) if text else None
        if found is None or found.service != scope or found.identity != identity:
            raise NotFound("No such challenge.")
        return found

    def list_challenges(self, scope: str, identity: str, factor_id: str | None = None) -> list[Challenge]:
        """Oldest first: the challenges of the identity's factors (of one of them, when given)."""
        if factor_id is not None and not FACTOR_ID.fullmatch(factor_id):
            return []
        factor_ids = [factor_id] if factor_id else [f.id for f in self.for_identity(identity, scope)]
        found = [Challenge.from_json(t) for fid in factor_ids for t in self.store.challenge_list(fid)]
        mine = [c for c in found if c.service == scope and c.identity == identity]
        return sorted(mine, key=lambda c: (c.created_at, c.sid))

    def _keep(self, challenge: Challenge) -> None:
        self.store.challenge_put(challenge.sid, challenge.factor_sid, challenge.to_json(), challenge.keep_until)
        if challenge.status == APPROVED:
            event("challenge.approved", challenge=challenge.sid, factor=challenge.factor_sid)


def valid_identity(identity: object) -> str:
    if not isinstance(identity, str) or not IDENTITY.fullmatch(identity):
        raise InvalidRequest("`identity` must be 8 to 64 letters, digits or dashes.")
    return identity


def valid_name(name: object, field: str) -> str:
    """A factor's or an issuer's name: it becomes the app's label, `issuer:name`, so no colon."""
    text = name.strip() if isinstance(name, str) else ""
    if not 0 < len(text) <= NAME_MAX or not text.isprintable() or ":" in text:
        raise InvalidRequest(f"`{field}` must be 1 to {NAME_MAX} printable characters, without a colon.")
    return text


def valid_code(code: object) -> str:
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or not 3 <= len(code) <= 10:
        raise InvalidRequest("`code` must be a string of 3 to 10 digits.")
    return code


def _is_challenge_sid(sid: str) -> bool:
    return len(sid) == 34 and sid.startswith("YC") and all(c in "0123456789abcdef" for c in sid[2:])
