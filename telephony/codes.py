"""One-time codes: drawn with `secrets`, kept at rest only as a keyed MAC plus an encrypted copy.

The MAC answers checks; the encrypted copy lets the voice leg and resends carry the same code.
Both are bound to the verification id (a code cannot be replayed against another verification)
and keyed from SECRET_KEY, which never reaches the store. SECRET_KEY_FALLBACKS are tried after
it, so the secret can be rotated while codes are in flight.

A TOTP factor's shared secret is sealed the same way, under a key of its own and bound to the
factor's id: a sealed secret moved onto another factor's record opens for none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAC_BYTES = 16


def new_code(length: int) -> str:
    """A uniformly random string of `length` decimal digits (leading zeros kept)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())


class CodeVault:
    """Seals codes for storage and opens or checks them again, under current and older keys."""

    def __init__(self, secret: str, fallbacks: tuple[str, ...] = ()) -> None:
        secrets_in_order = (secret, *fallbacks)
        self._mac_keys = [_derive(s, b"otp code mac v1") for s in secrets_in_order]
        self._ciphers = [AESGCM(_derive(s, b"otp code encryption v1")) for s in secrets_in_order]
        self._secret_ciphers = [AESGCM(_derive(s, b"otp totp secret v1")) for s in secrets_in_order]

    def mac(self, verification_id: str, code: str, *, key_index: int = 0, binding: tuple[str, str] = ("", "")) -> str:
        """MAC of a candidate code for one verification (128 bits, base64url: 22 characters).

        A `binding` (PSD2: the amount and the payee) is part of what is MACed, so a code started
        for one transaction never passes a check that names another."""
        message = f"{verification_id}:{code}".encode()
        if any(binding):
            message += b"\x1f" + json.dumps(list(binding)).encode()
        digest = hmac.new(self._mac_keys[key_index], message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode().rstrip("=")

    def candidate_macs(self, verification_id: str, code: str, binding: tuple[str, str] = ("", "")) -> list[str]:
        """The candidate's MAC under every key, current first (what a store compares against)."""
        return [self.mac(verification_id, code, key_index=i, binding=binding) for i in range(len(self._mac_keys))]

    def seal(self, verification_id: str, code: str, binding: tuple[str, str] = ("", "")) -> tuple[str, str]:
        """(mac, encrypted copy) to store for a freshly drawn code."""
        return self.mac(verification_id, code, binding=binding), _encrypt(self._ciphers[0], verification_id, code)

    def open(self, verification_id: str, sealed: str) -> str:
        """Decrypt a stored copy; raises ValueError if no configured key opens it."""
        return _decrypt(self._ciphers, verification_id, sealed)

    def seal_secret(self, factor_id: str, secret: str) -> str:
        """A TOTP factor's shared secret, encrypted under the current key for its record."""
        return _encrypt(self._secret_ciphers[0], factor_id, secret)

    def open_secret(self, factor_id: str, sealed: str) -> str:
        """The shared secret again, under any configured key; raises ValueError if none opens it."""
        return _decrypt(self._secret_ciphers, factor_id, sealed)

    @staticmethod
    def same(stored_mac: str, candidates: list[str]) -> bool:
        """Constant-time comparison of a stored MAC with each candidate."""
        found = False
        for candidate in candidates:
            found |= hmac.compare_digest(stored_mac, candidate)
        return found


def _encrypt(cipher: AESGCM, bound_to: str, text: str) -> str:
    nonce = os.urandom(12)
    sealed = nonce + cipher.encrypt(nonce, text.encode(), bound_to.encode())
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _decrypt(ciphers: list[AESGCM], bound_to: str, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    for cipher in ciphers:
        try:
            return cipher.decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
        except InvalidTag:
            continue
    raise ValueError("no configured SECRET_KEY opens this value")
