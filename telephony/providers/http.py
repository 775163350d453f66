"""One POST to a provider's REST API over `requests`, with our failure vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from telephony.errors import ProviderError

MAX_ID = 128  # provider ids are 32 to 40 characters; anything far longer is not one


def post(session: requests.Session, provider: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """POST and return a 2xx answer; otherwise `ProviderError`, transient when another provider might do better."""
    try:
        response = session.post(url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:  # timeouts, refused connections, DNS
        raise ProviderError(provider, type(exc).__name__) from exc
    status = response.status_code
    if not 200 <= status < 300:
        transient = not 400 <= status < 500 or status in (401, 403, 429)  # bad input fails everywhere
        code = _field(response, lambda body: body.get("code"))
        raise ProviderError(provider, f"HTTP {status}" + (f" code {code}" if code else ""), transient=transient)
    return response


def created_id(response: requests.Response, provider: str, pick: Callable[[Any], Any], what: str) -> str:
    """The new message's or call's id, read from a 2xx answer by `pick`."""
    return checked_id(_field(response, pick), provider, what)


def checked_id(found: object, provider: str, what: str) -> str:
    """`found` when it is a plausible id; else a transient `ProviderError`, so the next provider sends.

    An unreadable answer (not JSON, no id, an id of the wrong type) may hide a send that went out,
    so failing over can deliver a second SMS or call; it carries the same code. Not failing over
    left the verification waiting on an attempt no receipt could ever name.
    """
    if not isinstance(found, str) or not 0 < len(found) <= MAX_ID or not found.isprintable() or " " in found:
        raise ProviderError(provider, f"no {what} in the answer")
    return found


def _field(response: requests.Response, pick: Callable[[Any], Any]) -> Any:
    try:
        return pick(response.json())
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
