"""Domain errors. `webhooks/` turns each `ServiceError` into the contract's JSON error shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telephony.approvals import Approval
    from telephony.models import Verification


class ConfigError(ValueError):
    """Settings are missing or invalid; the message starts with the (first) variable's name.

    `variable` is the first bad setting, `problems` every one, each a ConfigError of its own, so
    a new user fixes them all after one start instead of one per restart.
    """

    def __init__(self, variable: str, why: str) -> None:
        super().__init__(f"{variable} {why}")
        self.variable = variable
        self.problems: tuple[ConfigError, ...] = (self,)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every bad setting's name, in the order they were found."""
        return tuple(problem.variable for problem in self.problems)

    @classmethod
    def every(cls, problems: list[ConfigError]) -> ConfigError:
        """One error that reports all of `problems` (not empty) on one line."""
        if len(problems) == 1:
            return problems[0]
        first = problems[0]
        combined = cls(first.variable, "; ".join(str(p) for p in problems).removeprefix(f"{first.variable} "))
        combined.problems = tuple(problems)
        return combined


class ServiceError(Exception):
    """An expected refusal with a contract error code and HTTP status."""

    code = "invalid_request"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        extra: dict[str, str] | None = None,
        verification: Verification | None = None,
        approval: Approval | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.extra = extra or {}  # top-level fields the answer carries beside `error`
        self.verification = verification  # shown beside `error` (a 502: the caller may resend or cancel it)
        self.approval = approval  # likewise (a 502: the request exists, its send failed)


class InvalidRequest(ServiceError):
    code, status = "invalid_request", 400


class InvalidPhone(ServiceError):
    code, status = "invalid_phone_number", 400


class NotFound(ServiceError):
    code, status = "not_found", 404


class NotPending(ServiceError):
    code, status = "not_pending", 409


class RateLimited(ServiceError):
    code, status = "rate_limited", 429


class SendsExhausted(RateLimited):
    """Every send of a verification is used (or the number's own send limit is reached)."""


class PumpingBlocked(RateLimited):
    """The number's prefix is blocked by the SMS-pumping guard."""


class MaxAttempts(ServiceError):
    code, status = "max_attempts_reached", 429


class FactorUnverified(ServiceError):
    """A check (or a /v2 challenge) of a TOTP factor whose enrolment was never confirmed by a code."""

    code, status = "factor_unverified", 409


class ChallengeExpired(ServiceError):
    """A code for a /v2 challenge past its expiration date (Twilio's 60323)."""

    code, status = "challenge_expired", 403


class LandlineRefused(InvalidRequest):
    """An SMS to a landline, refused because the /v2 service skips them (Twilio's 60205)."""


class OptedOut(ServiceError):
    code, status = "opted_out", 403


class CountryNotAllowed(ServiceError):
    code, status = "country_not_allowed", 403


class DestinationNotAllowed(ServiceError):
    """A number type or range used for toll fraud (premium rate, satellite...), not allowed in configuration."""

    code, status = "destination_not_allowed", 403


class ProviderFailed(ServiceError):
    code, status = "provider_error", 502


class StoreUnavailable(ServiceError):
    """The store did not answer. `applied` says what is known of the change asked for: False when
    it cannot have happened (no connection), None when it may have (a write that timed out)."""

    code, status = "store_unavailable", 503

    def __init__(self, message: str, *, applied: bool | None = False) -> None:
        outcome = "not_applied" if applied is False else "unknown"
        super().__init__(message, extra={"outcome": outcome})
        self.applied = applied


class ProviderError(Exception):
    """A provider's API refused or failed a send; `transient` ones are worth another provider."""

    def __init__(self, provider: str, message: str, *, transient: bool = True) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.transient = transient
