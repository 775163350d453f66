"""Groundwork for outbound webhooks: Standard Webhooks signatures and a guard against SSRF.

Signing (https://www.standardwebhooks.com, spec v1.0.0): every delivery carries `webhook-id` (the
same on every retry), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`,
`v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed by the bytes of the secret
(`whsec_` + base64). During a rotation, older secrets add their own `v1,…` values, space-separated,
so receivers still holding one keep accepting deliveries.

SSRF: a webhook URL is the one place where someone else chooses where this service connects. In
production it must be https and resolve to public addresses only (`check_destination`, at
start-up), and `session()` checks again at every connection: it resolves once, refuses the whole
answer if any address is not public, connects to an address it checked (never by name again) and
checks the peer the socket is actually connected to. So a DNS answer that changes after the
start-up check (rebinding) cannot reach the private network. `WEBHOOK_ALLOW_PRIVATE=1` switches
both off (development, a receiver on the same private network, an egress proxy).

No Flask here: the delivery worker (a later issue) uses this module outside any request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from telephony.errors import ConfigError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # Standard Webhooks: 24 to 64 random bytes
# Seconds for each of connecting and reading an answer (the contract's 10 s; the spec advises 15-30).
TIMEOUT = 10.0

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))  # cloud instance metadata
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598): some provider's private network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv6 whose last 32 bits reach that IPv4 address through NAT64


def parse_secret(name: str, value: str) -> bytes:
    """The HMAC key in a `whsec_` secret; `ConfigError(name, why)` when it is not one.

    The base64 is read strictly (standard alphabet, padding optional): receivers decode it with
    a lenient decoder that skips characters it does not know, such as URL-safe `-` and `_`, so a
    secret with them would sign with a key no receiver has. The value never appears in a message.
    """
    if not value.startswith(SECRET_PREFIX):
        raise ConfigError(name, f"must start with {SECRET_PREFIX} (a Standard Webhooks secret: {_SECRET_FORM})")
    text = value[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ConfigError(name, f"is not valid base64 after {SECRET_PREFIX} (alphabet A-Z a-z 0-9 + /)") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        bounds = f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}"
        raise ConfigError(name, f"must hold {bounds} bytes after {SECRET_PREFIX}, base64-encoded (got {len(key)})")
    return key


_SECRET_FORM = f"{SECRET_PREFIX} + base64 of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes"


def new_secret() -> str:
    """A fresh secret of 32 random bytes, in the form `parse_secret` reads."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


class WebhookSigner:
    """Signs deliveries with the current secret and, during a rotation, the older ones."""

    __slots__ = ("_keys",)

    def __init__(self, secret: str, fallbacks: Sequence[str] = ()) -> None:
        self._keys = (
            parse_secret("WEBHOOK_SECRET", secret),
            *(parse_secret("WEBHOOK_SECRET_FALLBACKS", old) for old in fallbacks),
        )

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three Standard Webhooks headers for `body`, exactly the bytes that will be sent.

        `msg_id` stays the same on every retry of one event (the receiver's idempotency key);
        `timestamp` is this attempt's Unix time in seconds (receivers refuse one 5 minutes off).
        """
        if not msg_id or not msg_id.isprintable() or any(ch.isspace() for ch in msg_id):
            raise ValueError("msg_id must be printable, without spaces")
        stamp = str(int(timestamp))
        signed = f"{msg_id}.{stamp}.".encode() + body
        signatures = (base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in self._keys)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": " ".join(f"v1,{signature}" for signature in signatures),
        }

    def __repr__(self) -> str:  # keys stay out of reprs, logs and tracebacks
        return f"WebhookSigner({len(self._keys)} secret(s))"


# --- the SSRF guard ---------------------------------------------------------------------------


class UnsafeDestination(ValueError):
    """A webhook URL this service must not connect to; the message says why."""


class Unresolvable(UnsafeDestination):
    """The URL's host does not resolve (now): no address to judge."""


class DestinationRefused(requests.exceptions.ConnectionError):
    """Raised by a guarded `session()` for a request it will not make: http://, through a proxy, or to
    a host that resolves, at connection time, to an address that is not public.

    A `requests.RequestException` like a refused connection, so a worker that retries those
    retries this too (a rebinding answer may be brief), and can still tell it apart.
    """


def not_public(address: str) -> str | None:
    """What makes `address` (an IP literal, maybe with a `%zone`) not public (`loopback`…), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d: connecting to it connects to a.b.c.d
            why = not_public(str(ip.ipv4_mapped))
            return why and f"IPv4-mapped {why}"
        if ip in _NAT64:
            why = not_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
            return why and f"NAT64 {why}"
        if ip.sixtofour is not None and (why := not_public(str(ip.sixtofour))):
            return f"6to4 {why}"
    checks: tuple[tuple[bool, str], ...] = (
        (ip in _METADATA, "cloud metadata"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "carrier-grade NAT 100.64.0.0/10"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((kind for bad, kind in checks if bad), None)


def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse (`UnsafeDestination`, a ValueError) a webhook URL this service must not POST to.

    Always: an http(s) URL with a host. Unless `allow_private`: https only, and the host must
    resolve, every address public. Resolving uses `socket.getaddrinfo`; nothing connects.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination("must be an http(s) URL with a host, such as https://app.example.com/hooks")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("has an invalid port") from None
    if allow_private:
        return
    if parts.scheme != "https":
        raise UnsafeDestination("must be https://")
    try:
        _public_addresses(parts.hostname, port, socket.AF_UNSPEC, UnsafeDestination)
    except socket.gaierror as exc:
        raise Unresolvable(f"host {parts.hostname} does not resolve ({exc.strerror or exc})") from None


def _public_addresses(host: str, port: int, family: int, refuse: type[Exception]) -> list[tuple[int, int, int, Any]]:
    """`host` resolved once, every answer checked: `refuse(why)` when any address is not public.

    All of them, not the first: a client that falls back to the next address on a refused
    connection would otherwise reach a private one listed after a public one. A failed lookup
    raises `socket.gaierror` as usual.
    """
    answers = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    if not answers:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    for _family, _type, _proto, _name, sockaddr in answers:
        address = str(sockaddr[0])
        if why := not_public(address):
            shown = f"host {host}" if _same_ip(host, address) else f"host {host} resolves to {address}, which"
            raise refuse(f"{shown} is not public ({why}); webhooks go to public addresses only")
    return [(family_, type_, proto, sockaddr) for family_, type_, proto, _name, sockaddr in answers]


def _same_ip(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False


class _Refused(Exception):  # not an OSError, so urllib3 lets it through unwrapped
    """Raised inside urllib3's connect; `_GuardedAdapter.send` turns it into `DestinationRefused`."""


def _connect_public(
    host: str,
    port: int,
    timeout: Any,
    source_address: tuple[str, int] | None,
    socket_options: Sequence[tuple[int, int, int | bytes]] | None,
) -> socket.socket:
    """Like urllib3's `create_connection`, to checked addresses only, then the peer checked too."""
    error: OSError | None = None
    for family, type_, proto, sockaddr in _public_addresses(host, port, allowed_gai_family(), _Refused):
        sock = socket.socket(family, type_, proto)
        try:
            for level, option, value in socket_options or ():
                sock.setsockopt(level, option, value)
            if timeout is None or isinstance(timeout, int | float):  # else urllib3's "socket default"
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)  # the address just checked: no second lookup by name
            peer = str(sock.getpeername()[0])
            if why := not_public(peer):
                raise _Refused(f"host {host} connected to {peer}, which is not public ({why})")
            return sock
        except OSError as exc:
            error = exc
            sock.close()
        except BaseException:
            sock.close()
            raise
    raise error or OSError(f"no address to connect to for {host}")


def _new_guarded_conn(connection: HTTPConnection) -> socket.socket:
    """urllib3's `_new_conn`, its socket from `_connect_public` (TLS, SNI and errors unchanged)."""
    host, port, timeout = connection.host, connection.port, connection.timeout
    try:
        sock = _connect_public(host, port, timeout, connection.source_address, connection.socket_options)
    except socket.gaierror as exc:
        raise NameResolutionError(host, connection, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(connection, f"Connection to {host} timed out. (connect timeout={timeout})") from exc
    except OSError as exc:
        raise NewConnectionError(connection, f"Failed to establish a new connection: {exc}") from exc
    sys.audit("http.client.connect", connection, host, port)
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _new_guarded_conn(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _new_guarded_conn(self)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _TimedAdapter(HTTPAdapter):
    """An adapter whose requests time out after `TIMEOUT` when the caller names no timeout."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT
        return super().send(request, *args, **kwargs)


class _GuardedAdapter(_TimedAdapter):
    """https only, to public addresses checked at each new connection (pooled ones were checked)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if urlsplit(url).scheme != "https":
            raise DestinationRefused("webhooks go over https:// only", request=request)
        proxies: Mapping[str, str] | None = kwargs.get("proxies")
        if proxies and select_proxy(url, dict(proxies)):  # the proxy would connect, unchecked
            raise DestinationRefused("a proxy would bypass the address check", request=request)
        try:
            return super().send(request, *args, **kwargs)
        except _Refused as refused:
            raise DestinationRefused(str(refused), request=request) from None


class WebhookSession(requests.Session):
    """A `requests.Session` that never follows redirects (Standard Webhooks: a 3xx is a failure).

    `allow_redirects` is forced to False whatever the caller passes, so a 3xx comes back as the
    answer; its `Location` is never visited. Timeouts default to `TIMEOUT` (10 s) per phase.
    """

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def session(allow_private: bool) -> WebhookSession:
    """The session deliveries go through: `session.post(url, data=body, headers=...)`.

    Unless `allow_private`, only https to public addresses, re-checked at every new connection
    (`DestinationRefused` otherwise), and proxy variables in the environment are ignored (a proxy
    would make the connection this check cannot see; put an egress proxy in front with
    `allow_private` instead). With `allow_private`, a plain session (proxies from the environment
    honoured). Either way: no redirects followed, `TIMEOUT` unless the caller passes another.
    """
    http = WebhookSession()
    if allow_private:
        adapter: HTTPAdapter = _TimedAdapter()
    else:
        adapter = _GuardedAdapter()
        http.trust_env = False  # no proxies, no .netrc credentials sent to a receiver
        http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    return http
