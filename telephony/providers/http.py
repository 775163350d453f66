"""One POST to a provider's REST API over `requests`, with our failure vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from telephony.errors import ProviderError


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
    """The new message's or call's id; an answer without one must not fail over (it may have been sent)."""
    found = _field(response, pick)
    if not found:
        raise ProviderError(provider, f"no {what} in the answer", transient=False)
    return str(found)


def _field(response: requests.Response, pick: Callable[[Any], Any]) -> Any:
    try:
        return pick(response.json())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
