"""The registry: the only list of providers. Config, `build_providers`, the simulator and the CLI
read each provider's spec here; adding a provider means one module with a SPEC, listed below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telephony.providers import console, fixed, flowroute, plivo, signalwire, twilio
from telephony.providers.base import FormData, Provider, ProviderSpec, StatusReport, WebhookRequest

if TYPE_CHECKING:
    from telephony.config import Settings
    from telephony.store import Store

__all__ = ["SPECS", "FormData", "Provider", "ProviderSpec", "StatusReport", "WebhookRequest", "build_providers"]

# In the order config names them in its messages (`choose from ...`).
SPECS: dict[str, ProviderSpec] = {
    spec.name: spec for spec in (console.SPEC, twilio.SPEC, plivo.SPEC, signalwire.SPEC, flowroute.SPEC)
}


def build_providers(settings: Settings, store: Store) -> dict[str, Provider]:
    """One adapter per provider named in SMS_PROVIDER or VOICE_PROVIDER."""
    names = dict.fromkeys(settings.sms_providers + settings.voice_providers)
    built: dict[str, Provider] = {name: SPECS[name].build(settings, store) for name in names}
    if settings.test_numbers:
        built[fixed.NAME] = fixed.TestNumberProvider()  # OTP_TEST_NUMBERS: sends nothing
    return built
