"""RFC 6238 time-based one-time passwords, as authenticator apps make them. Pure: the time is
always passed in, so tests drive it by hand and the service uses the store's clock.

The defaults are what Google Authenticator, Authy, 1Password and pyotp assume when a provisioning
URI says nothing else: SHA-1, 6 digits, 30-second steps. `skew` is how many steps either side of
the current one are accepted, for a phone whose clock drifts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from urllib.parse import quote, urlencode

SECRET_BYTES = 20  # 160 bits: RFC 4226's recommended HMAC-SHA-1 key length
# Unpadded base32 of 16 to 128 characters, in a length base32 can have (fullmatch; docs/openapi.json says the same).
BASE32 = re.compile(r"(?:[A-Za-z2-7]{8}){2,15}(?:[A-Za-z2-7]{2}|[A-Za-z2-7]{4,5}|[A-Za-z2-7]{7})?|[A-Za-z2-7]{128}")
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass(frozen=True)
class Config:
    """How a factor's codes are made; Twilio's `Config.*` bounds are checked by whoever builds one."""

    alg: str = "sha1"
    digits: int = 6
    period: int = 30  # seconds per step
    skew: int = 1  # steps accepted either side of the current one

    def to_text(self) -> str:
        return f"{self.alg}|{self.digits}|{self.period}|{self.skew}"

    @classmethod
    def from_text(cls, text: str) -> Config:
        alg, digits, period, skew = text.split("|")
        return cls(alg, int(digits), int(period), int(skew))


DEFAULT = Config()


def new_secret() -> str:
    """A fresh shared secret: 160 random bits in base32, without padding (as apps show and take it)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def normalized(secret: str) -> str | None:
    """A secret given by the application (Twilio's `Binding.Secret`), in upper case; None unless it
    is unpadded base32 of 80 to 640 bits (RFC 4226's minimum key length and then some)."""
    return secret.upper() if BASE32.fullmatch(secret) else None


def _key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def step_at(now: float, config: Config = DEFAULT) -> int:
    """The time step (RFC 6238's T) that `now` (epoch seconds) falls in."""
    return int(now // config.period)


def code_at_step(secret: str, step: int, config: Config = DEFAULT) -> str:
    """The code of one time step: RFC 4226's HOTP with the step as the counter."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), ALGORITHMS[config.alg]).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**config.digits).zfill(config.digits)


def matching_step(secret: str, code: str, now: float, config: Config = DEFAULT) -> int | None:
    """The step whose code `code` is, among the current one and `config.skew` either side; None when
    none is. Every candidate is compared, each in constant time, so the time taken says nothing about
    which step came close. When two steps share the code (one in a million), the later one wins."""
    if len(code) != config.digits or not code.isascii() or not code.isdigit():
        return None
    current = step_at(now, config)
    found: int | None = None
    for step in range(current - config.skew, current + config.skew + 1):
        if hmac.compare_digest(code_at_step(secret, step, config), code):
            found = step
    return found


def uri(secret: str, issuer: str, name: str, config: Config = DEFAULT) -> str:
    """The provisioning URI an app scans (Google Authenticator's Key Uri Format): the label is
    `issuer:name`, each part URL-quoted, and the issuer repeated as a parameter."""
    label = f"{quote(issuer, safe='')}:{quote(name, safe='')}"
    params = {"secret": secret, "issuer": issuer, "algorithm": config.alg.upper(), "digits": config.digits,
              "period": config.period}  # fmt: skip
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"
