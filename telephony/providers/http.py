"""One POST to a provider's REST API over `requests`, with our failure vocabulary."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

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


# Connections kept per provider host, per process: enough for every thread of a worker sending at
# once (the SDKs' defaults keep 6 or 10 and open and drop the rest under load).
POOL_SIZE = 64


def api_url_check(value: str) -> None:
    """TWILIO_API_URL, PLIVO_API_URL: an origin only, https (http only to this machine)."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.path.strip("/") or parts.query:
        raise ValueError(f"must be an origin such as https://api.example.com (got {value!r})")
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError("must be https:// (http:// only to a loopback host)")


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Redirected(HTTPAdapter):
    """Sends each request to `origin` instead of the SDK's own host, the path kept.

    For an API that speaks the provider's REST shapes elsewhere (a mock for load tests, a regional
    edge): the SDK runs unchanged, and so does everything it does around the request.
    """

    def __init__(self, origin: str) -> None:
        super().__init__(pool_connections=4, pool_maxsize=POOL_SIZE)
        self._origin = urlsplit(origin)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self._origin.scheme, self._origin.netloc, parts.path, parts.query, ""))
        return super().send(request, *args, **kwargs)


def mount(session: requests.Session, origin: str, default: str) -> None:
    """Prepare an SDK's session for `default` (its API's origin), or `origin` instead when set.

    requests reads the proxy variables and the CA bundle from the environment at every request
    (about 1 ms of a start's 6 in-process, bench/realworld.py): they are read once here instead,
    for the one host this session talks to. A larger connection pool either way.
    """
    target = origin or default
    session.proxies.update(requests.utils.get_environ_proxies(target))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    adapter = Redirected(origin) if origin else HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
