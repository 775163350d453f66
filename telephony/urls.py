"""The webhook URLs handed to carriers. Paths are the contract's; the base is PUBLIC_BASE_URL.

`a` in the query names the attempt (its index in the verification's sends) so a callback finds
its send even before the provider's id is recorded. Carriers sign the query with the rest.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def answer_url(base: str, provider: str, verification_id: str, attempt: int) -> str:
    return f"{base}/webhooks/{provider}/voice/{verification_id}?a={attempt}"


def menu_url(
    base: str, provider: str, verification_id: str, attempt: int, *, repeats: int = 0, gate: bool = False
) -> str:
    """The keypad action: `r` counts the repeats already heard, `g` marks the press-a-key gate."""
    step = "g=1" if gate else f"r={repeats}"
    return f"{base}/webhooks/{provider}/voice/{verification_id}/menu?a={attempt}&{step}"


def status_url(base: str, provider: str, kind: str, verification_id: str, attempt: int) -> str:
    """`kind` is `message` or `call`."""
    return f"{base}/webhooks/{provider}/status/{kind}/{verification_id}?a={attempt}"


def inbound_sms_url(base: str, provider: str) -> str:
    return f"{base}/webhooks/{provider}/sms"


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (localhost or a loopback address)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_origin(url: str) -> bool:
    """https, or http to this machine only (a local proxy or a tunnel terminates TLS there)."""
    return urlsplit(url).scheme == "https" or is_loopback(url)
