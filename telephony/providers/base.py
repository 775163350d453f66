"""What every provider adapter offers, and the plain data that crosses the boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol


class FormData(dict[str, list[str]]):
    """Form or query fields, each with every value received (webhooks may repeat a name)."""

    def getlist(self, name: str) -> list[str]:  # the spelling twilio's RequestValidator looks for
        return list(self.get(name, []))

    def first(self, name: str, default: str = "") -> str:
        values = self.get(name)
        return values[0] if values else default


# Which webhook a request came to, as the route that received it says: a provider may sign some
# more strongly than others, and must then hold each to its strongest.
WebhookKind = Literal["answer", "menu", "call_status", "message_status", "inbound_sms"]


@dataclass(frozen=True)
class WebhookRequest:
    """A carrier's request as the provider signed it; built by `webhooks/`, no Flask past here."""

    url: str  # PUBLIC_BASE_URL + path + the raw query string, exactly as received
    method: str
    headers: Mapping[str, str]
    form: FormData = field(default_factory=FormData)
    body: bytes = b""
    kind: WebhookKind | None = None  # None (not known) gets the strictest check a provider has

    def header(self, name: str) -> str:
        """A header by name, whatever its spelling (HTTP header names are case-insensitive)."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), "")


@dataclass(frozen=True)
class StatusReport:
    """A delivery receipt or call status: `status` is the contract's word, None when unknown."""

    provider_id: str
    status: str | None
    raw: str
    event_id: str = ""  # what makes this callback unique, for de-duplication


@dataclass(frozen=True)
class InboundSms:
    message_id: str
    from_number: str  # E.164
    to_number: str
    body: str


class Provider(Protocol):
    """A carrier account. Adapters raise `telephony.errors.ProviderError` when a send fails."""

    name: str
    dialect: str  # voice markup the answer URL must return: "twiml" or "plivo"
    replies_inline: bool  # inbound SMS replies go back as markup (else through send_sms)

    def send_sms(self, to: str, body: str, *, status_url: str) -> str:
        """Send one SMS; returns the provider's message id."""

    def place_call(self, to: str, *, answer_url: str, status_url: str) -> str:
        """Start one call that will fetch `answer_url`; returns the provider's call id."""

    def verify(self, request: WebhookRequest) -> bool:
        """True when the request carries this provider's valid signature for `request.url`, of the
        strongest kind the provider sends for `request.kind`; a nonce, where it sends one, is used
        up. Never raises."""

    def answered_by_machine(self, request: WebhookRequest) -> bool:
        """True when the answer request says a machine (voicemail, fax) picked up."""

    def message_status(self, request: WebhookRequest) -> StatusReport:
        """Parse a delivery receipt (raises ValueError when fields are missing)."""

    def call_status(self, request: WebhookRequest) -> StatusReport:
        """Parse a call status or hangup callback (raises ValueError when fields are missing)."""

    def inbound_sms(self, request: WebhookRequest) -> InboundSms:
        """Parse an inbound SMS (raises ValueError when fields are missing)."""


def required(form: FormData, *names: str) -> list[str]:
    """The first value of each named field; ValueError naming the first one missing."""
    values = []
    for name in names:
        value = form.first(name)
        if not value:
            raise ValueError(f"missing field {name}")
        values.append(value)
    return values
