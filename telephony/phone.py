"""Phone numbers: parse anything a person or a carrier sends into E.164, and mask for logs."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

_ALLOWED = set("0123456789+-(). ")


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable phone number."""


@lru_cache(maxsize=8192)  # parsing is the dearest step of a start; the result never changes
def to_e164(raw: str, *, default_region: str | None = None) -> str:
    """Parse a number a carrier sent (E.164, or international digits without `+`), or a person's
    national number when `default_region` is given. People's input goes through `parse_e164`."""
    text = (raw or "").strip()
    if not text or len(text) > 32 or not set(text) <= _ALLOWED:
        raise InvalidPhoneNumber(raw)
    if default_region is None and not text.startswith("+"):
        # Carriers (Plivo, Flowroute) send international numbers without the leading +.
        text = "+" + text
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(raw) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_e164(raw: str, default_region: str | None = None) -> str:
    """A number a person typed: E.164 with its `+`, or a national number of `default_region`.

    Without a region, digits without `+` are refused rather than read as international: 240 of
    2,000 random US numbers written without +1 are valid numbers of some other country.
    """
    text = (raw or "").strip()
    if default_region is None and not text.startswith("+"):
        raise InvalidPhoneNumber(raw)
    return to_e164(text, default_region=default_region)


def is_region(code: str) -> bool:
    """Whether `code` is an ISO region libphonenumber can read national numbers of (`US`, `GB`...)."""
    return code in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=8192)
def _parsed(e164: str) -> phonenumbers.PhoneNumber:
    """One parse per E.164 number, shared by the questions below (treat the result as read-only)."""
    return phonenumbers.parse(e164, None)


def region_of(e164: str) -> str | None:
    """The ISO country code of an E.164 number (`US`, `FR`...), or None when unknown."""
    return phonenumbers.region_code_for_number(_parsed(e164))


def number_type(e164: str) -> int:
    """phonenumbers' PhoneNumberType of an E.164 number."""
    return phonenumbers.number_type(_parsed(e164))


def mask(e164: str) -> str:
    """`+14155550100` -> `+1415*****00`: enough to tell numbers apart in logs, not to dial them."""
    if len(e164) < 8:
        return "*" * len(e164)
    return e164[:5] + "*" * (len(e164) - 7) + e164[-2:]
