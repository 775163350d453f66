"""What every provider adapter offers, and the plain data that crosses the boundary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from telephony.phone import InvalidPhoneNumber, to_e164

if TYPE_CHECKING:  # config reads the registry, so the registry must not need config to load
    from telephony.config import Settings
    from telephony.store import Store


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

    def send_sms(self, to: str, body: str, *, status_url: str | None) -> str:
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


ChannelName = Literal["sms", "call"]
WebhookFormat = Literal["form", "json"]
# A webhook's content as a provider posts it: form fields, or the JSON document of a JSON provider.
Payload = dict[str, Any]


@dataclass(frozen=True)
class Setting:
    """One environment variable a provider reads."""

    name: str
    required: bool = True  # when the provider is used for any channel
    caller: bool = False  # our own number: checked as E.164
    # Not needed for SMS once this other (optional) setting is set; calls still need it.
    sms_alternative: str | None = None
    # Raises ValueError with the reason (worded after the variable's name) when the value is refused.
    check: Callable[[str], None] | None = None


@dataclass(frozen=True)
class SignedRequest:
    """Where to post a webhook and the headers that make the provider's adapter accept it."""

    url: str  # a provider that signs nothing carries its secret in the URL
    headers: dict[str, str]


class Sample(Protocol):
    """A receipt, call status or answer request about `provider_id`, as the provider posts it;
    `extra` adds or replaces fields (Plivo's `Sequence`, Flowroute's `level`, keypad `Digits`)."""

    def __call__(self, provider_id: str, status: str, *, to: str, caller: str, **extra: Any) -> Payload: ...


class InboundSample(Protocol):
    """An SMS `body` from `sender` to our number `caller`, as the provider posts it."""

    def __call__(self, body: str, *, sender: str, caller: str) -> Payload: ...


@dataclass(frozen=True)
class ProviderSpec:
    """All a provider declares: the registry, config, the simulator and the tests read only this."""

    name: str
    settings: tuple[Setting, ...]
    channels: tuple[ChannelName, ...]
    build: Callable[[Settings, Store], Provider]
    signing_key: str | None  # the setting whose secret signs (or guards) its webhooks
    # `sign(key, url, form)`: signed with the provider's own SDK helper; JSON bodies are not signed.
    sign: Callable[[str, str, Mapping[str, str]], SignedRequest]
    webhook_format: WebhookFormat
    receipt: Sample
    inbound: InboundSample
    call_status: Sample | None = None  # None: the provider places no calls
    answer: Sample | None = None
    sends: bool = True  # False: a development stand-in that reaches no phone, refused in production

    @property
    def caller_setting(self) -> str | None:
        """The setting holding our own number, which carriers name as the sender or recipient."""
        return next((s.name for s in self.settings if s.caller), None)


def unsigned(key: str, url: str, form: Mapping[str, str]) -> SignedRequest:
    """For a provider whose webhooks carry no signature."""
    return SignedRequest(url, {})


def required(form: FormData, *names: str) -> list[str]:
    """The first value of each named field; ValueError naming the first one missing."""
    values: list[str] = []
    for name in names:
        value = form.first(name)
        if not value:
            raise ValueError(f"missing field {name}")
        values.append(value)
    return values


def number_or_raw(raw: str) -> str:
    """A number a carrier posted (often without its `+`) in E.164; a short code or an alphanumeric
    sender is no phone number, and is kept as received."""
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return raw
