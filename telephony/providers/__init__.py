"""Provider adapters by name, built from settings (the only place that knows them all)."""

from __future__ import annotations

from telephony.config import Settings
from telephony.providers.base import FormData, Provider, StatusReport, WebhookRequest
from telephony.store import Store

__all__ = ["FormData", "Provider", "StatusReport", "WebhookRequest", "build_providers"]


def _build(name: str, settings: Settings, store: Store) -> Provider:
    c = settings.credential
    if name == "console":
        from telephony.providers.console import ConsoleProvider

        return ConsoleProvider(store)
    if name == "twilio":
        from telephony.providers.twilio import TwilioProvider

        return TwilioProvider(
            c("TWILIO_ACCOUNT_SID"), c("TWILIO_AUTH_TOKEN"), c("TWILIO_FROM"),
            timeout=settings.provider_timeout, ttl=settings.otp_ttl,
            detect_machines=settings.otp_voice_machine == "hangup",
            messaging_service=c("TWILIO_MESSAGING_SERVICE_SID"),
        )  # fmt: skip
    if name == "plivo":
        from telephony.providers.plivo import PlivoProvider

        return PlivoProvider(
            c("PLIVO_AUTH_ID"), c("PLIVO_AUTH_TOKEN"), c("PLIVO_FROM"), store,
            timeout=settings.provider_timeout, ttl=settings.otp_ttl,
            detect_machines=settings.otp_voice_machine == "hangup",
        )  # fmt: skip
    if name == "signalwire":
        from telephony.providers.signalwire import SignalWireProvider

        return SignalWireProvider(
            c("SIGNALWIRE_PROJECT"), c("SIGNALWIRE_TOKEN"), c("SIGNALWIRE_SPACE"), c("SIGNALWIRE_FROM"),
            c("SIGNALWIRE_SIGNING_KEY"), timeout=settings.provider_timeout, ttl=settings.otp_ttl,
            detect_machines=settings.otp_voice_machine == "hangup",
        )  # fmt: skip
    if name == "flowroute":
        from telephony.providers.flowroute import FlowrouteProvider

        return FlowrouteProvider(
            c("FLOWROUTE_ACCESS_KEY"), c("FLOWROUTE_SECRET_KEY"), c("FLOWROUTE_FROM"),
            c("FLOWROUTE_WEBHOOK_SECRET"), timeout=settings.provider_timeout,
        )  # fmt: skip
    raise NotImplementedError(f"provider {name} is not available yet")


def build_providers(settings: Settings, store: Store) -> dict[str, Provider]:
    """One adapter per provider named in SMS_PROVIDER or VOICE_PROVIDER."""
    names = dict.fromkeys(settings.sms_providers + settings.voice_providers)
    return {name: _build(name, settings, store) for name in names}
