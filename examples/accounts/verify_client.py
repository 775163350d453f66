"""A small client for the verification service's `/v1` API, as any customer would write one.

Only HTTP (`requests`, with timeouts); each of the service's error codes becomes an exception, so
the application's views read `except NotPending:` rather than status numbers.
"""

from __future__ import annotations

from typing import Any

import requests

Resource = dict[str, Any]


class VerifyError(Exception):
    """An answer of the service that is not a success (or no answer at all)."""

    code = "error"

    def __init__(self, message: str, *, status: int = 0, retry_after: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.body = body


class InvalidRequest(VerifyError):
    code = "invalid_request"


class InvalidPhoneNumber(VerifyError):
    code = "invalid_phone_number"


class Unauthorized(VerifyError):
    code = "unauthorized"


class OptedOut(VerifyError):
    code = "opted_out"


class CountryNotAllowed(VerifyError):
    code = "country_not_allowed"


class DestinationNotAllowed(VerifyError):
    code = "destination_not_allowed"


class NotFound(VerifyError):
    """Unknown or expired verification (or approval, factor, notice), or no pending one for a number."""

    code = "not_found"


class NotPending(VerifyError):
    code = "not_pending"


class FactorUnverified(VerifyError):
    code = "factor_unverified"


class RateLimited(VerifyError):
    """Too many sends, or a resend too soon: `retry_after` says how many seconds to wait."""

    code = "rate_limited"


class MaxAttemptsReached(VerifyError):
    code = "max_attempts_reached"


class ProviderError(VerifyError):
    code = "provider_error"


class StoreUnavailable(VerifyError):
    code = "store_unavailable"


class ServiceUnreachable(VerifyError):
    """No answer: connection refused, timeout, or a body that is not the service's JSON."""

    code = "unreachable"


ERRORS: dict[str, type[VerifyError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest, InvalidPhoneNumber, Unauthorized, OptedOut, CountryNotAllowed, DestinationNotAllowed,
        NotFound, NotPending, FactorUnverified, RateLimited, MaxAttemptsReached, ProviderError, StoreUnavailable,
    )
}  # fmt: skip


class VerifyClient:
    """`/v1` of the service at `base_url`, with `api_key` as its bearer token (none in development)."""

    def __init__(
        self, base_url: str, api_key: str = "", *, timeout: float = 5.0, session: requests.Session | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = session or requests.Session()
        if api_key:
            self.http.headers["Authorization"] = f"Bearer {api_key}"

    # Codes ------------------------------------------------------------------------------------
    def start_verification(
        self, to: str, *, purpose: str = "login", channel: str = "sms", locale: str = "en", client_ip: str | None = None
    ) -> Resource:
        """A code to `to` for `purpose`; a number's pending verification for that purpose is sent again."""
        body: Resource = {"to": to, "channel": channel, "locale": locale, "purpose": purpose}
        if client_ip:
            body["client_ip"] = client_ip
        return self._call("POST", "/v1/verifications", body)

    def get_verification(self, verification_id: str) -> Resource:
        return self._call("GET", f"/v1/verifications/{verification_id}")

    def resend(self, verification_id: str, channel: str | None = None) -> Resource:
        return self._call(
            "POST", f"/v1/verifications/{verification_id}/resend", {"channel": channel} if channel else {}
        )

    def cancel_verification(self, verification_id: str) -> Resource:
        return self._call("POST", f"/v1/verifications/{verification_id}/cancel", {})

    def check(self, to: str, code: str, *, purpose: str = "login") -> bool:
        """Whether `code` is right for the pending `purpose` verification to `to` (approving it)."""
        answer = self._call("POST", "/v1/verification-checks", {"to": to, "code": code, "purpose": purpose})
        return bool(answer.get("valid"))

    def check_verification(self, verification_id: str, code: str) -> bool:
        return bool(self._call("POST", f"/v1/verifications/{verification_id}/check", {"code": code}).get("valid"))

    # Approval requests ------------------------------------------------------------------------
    def start_approval(
        self,
        to: str,
        message: str,
        *,
        channel: str = "sms",
        details: dict[str, str] | None = None,
        hidden_details: dict[str, str] | None = None,
        expires_in: int = 300,
        locale: str = "en",
    ) -> Resource:
        body: Resource = {"to": to, "message": message, "channel": channel, "expires_in": expires_in, "locale": locale}
        if details:
            body["details"] = details
        if hidden_details:
            body["hidden_details"] = hidden_details
        return self._call("POST", "/v1/approvals", body)

    def get_approval(self, approval_id: str) -> Resource:
        return self._call("GET", f"/v1/approvals/{approval_id}")

    def cancel_approval(self, approval_id: str) -> Resource:
        return self._call("POST", f"/v1/approvals/{approval_id}/cancel", {})

    # TOTP factors -----------------------------------------------------------------------------
    def create_factor(self, identity: str, friendly_name: str, issuer: str | None = None) -> Resource:
        """A new factor: the only answer that holds its `secret`, `uri` and `qr_svg`."""
        body: Resource = {"identity": identity, "friendly_name": friendly_name}
        if issuer:
            body["issuer"] = issuer
        return self._call("POST", "/v1/factors", body)

    def verify_factor(self, factor_id: str, code: str) -> bool:
        return bool(self._call("POST", f"/v1/factors/{factor_id}/verify", {"code": code}).get("valid"))

    def check_factor(self, factor_id: str, code: str) -> bool:
        return bool(self._call("POST", f"/v1/factors/{factor_id}/check", {"code": code}).get("valid"))

    def delete_factor(self, factor_id: str) -> None:
        self._call("DELETE", f"/v1/factors/{factor_id}")

    # Notices ----------------------------------------------------------------------------------
    def send_notice(self, to: str, kind: str, *, locale: str = "en") -> Resource:
        """A message without a code: `number_verified`, `password_reset`, `password_changed`,
        `phone_change_requested` or `phone_changed`."""
        return self._call("POST", "/v1/notices", {"to": to, "kind": kind, "locale": locale})

    # ------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Resource | None = None) -> Resource:
        try:
            response = self.http.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"the verification service did not answer: {exc}") from exc
        if response.status_code == 204:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise ServiceUnreachable(
                f"unexpected answer (HTTP {response.status_code})", status=response.status_code
            ) from None
        if response.ok:
            return data
        error = data.get("error", {}) if isinstance(data, dict) else {}
        retry = response.headers.get("Retry-After", "")
        cls = ERRORS.get(error.get("code", ""), VerifyError)
        raise cls(
            error.get("message", f"HTTP {response.status_code}"),
            status=response.status_code,
            retry_after=int(retry) if retry.isdigit() else None,
            body=data,
        )
