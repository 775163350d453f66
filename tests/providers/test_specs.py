"""Every provider's spec against its own adapter: what the simulator and the tests sign and post
is what the adapter accepts and reads, and config asks for exactly the settings the spec declares.
A new provider's module passes these before any test of its own."""

from __future__ import annotations

import json

import pytest
from carriers import CREDENTIALS, NUMBER

from telephony.config import PROVIDERS, VOICE_CAPABLE, load_settings
from telephony.errors import ConfigError
from telephony.providers import SPECS, Provider, ProviderSpec
from telephony.providers.base import FormData, Payload, WebhookRequest
from telephony.store import MemoryStore

URL = "https://otp.example.com/webhooks/any/status?v=1"


def settings_for(name: str, **extra: str) -> dict[str, str]:
    voice = name if "call" in SPECS[name].channels else "console"
    return {"APP_ENV": "test", "SMS_PROVIDER": name, "VOICE_PROVIDER": voice, **CREDENTIALS[name], **extra}


def adapter(spec: ProviderSpec) -> Provider:
    return spec.build(load_settings(settings_for(spec.name)), MemoryStore())


def request(spec: ProviderSpec, payload: Payload, *, key: str | None = None) -> WebhookRequest:
    """The webhook as the carrier posts it, signed by the spec with the configured secret (or `key`)."""
    secret = CREDENTIALS[spec.name].get(spec.signing_key or "", "") if key is None else key
    if spec.webhook_format == "json":
        signed = spec.sign(secret, URL, {})
        return WebhookRequest(signed.url, "POST", signed.headers, body=json.dumps(payload).encode())
    signed = spec.sign(secret, URL, payload)
    form = FormData({k: [str(v)] for k, v in payload.items()})
    return WebhookRequest(signed.url, "POST", signed.headers, form=form)


def caller(spec: ProviderSpec) -> str:
    return CREDENTIALS[spec.name].get(spec.caller_setting or "", "+15005550006")


SIGNED = [spec for spec in SPECS.values() if spec.signing_key]


def test_the_registry_is_the_only_list() -> None:
    assert tuple(SPECS) == PROVIDERS
    assert tuple(name for name, spec in SPECS.items() if "call" in spec.channels) == VOICE_CAPABLE
    assert all(name == spec.name for name, spec in SPECS.items())


@pytest.mark.parametrize("spec", SIGNED, ids=lambda s: s.name)
def test_the_adapter_accepts_what_the_spec_signs(spec: ProviderSpec) -> None:
    provider = adapter(spec)
    payload = spec.receipt("ID-1", "delivered", to=NUMBER, caller=caller(spec))
    assert provider.verify(request(spec, payload))
    assert not provider.verify(request(spec, payload, key="another-secret-of-the-same-kind"))


@pytest.mark.parametrize("spec", SPECS.values(), ids=lambda s: s.name)
def test_the_adapter_reads_the_samples(spec: ProviderSpec) -> None:
    provider = adapter(spec)
    report = provider.message_status(request(spec, spec.receipt("ID-1", "delivered", to=NUMBER, caller=caller(spec))))
    assert (report.provider_id, report.status) == ("ID-1", "delivered")
    sms = provider.inbound_sms(request(spec, spec.inbound("STOP", sender=NUMBER, caller=caller(spec))))
    assert (sms.from_number, sms.body) == (NUMBER, "STOP")
    if spec.call_status is None or spec.answer is None:
        assert "call" not in spec.channels
        return
    call = provider.call_status(request(spec, spec.call_status("CALL-1", "completed", to=NUMBER, caller=caller(spec))))
    assert (call.provider_id, call.status) == ("CALL-1", "completed")
    answer = spec.answer("CALL-1", "in-progress", to=NUMBER, caller=caller(spec))
    assert not provider.answered_by_machine(request(spec, answer))


@pytest.mark.parametrize("spec", SPECS.values(), ids=lambda s: s.name)
def test_config_asks_for_every_required_setting(spec: ProviderSpec) -> None:
    required = [s.name for s in spec.settings if s.required]
    raw = {k: v for k, v in settings_for(spec.name).items() if k not in required}
    if not required:
        load_settings(raw)
        return
    with pytest.raises(ConfigError) as caught:
        load_settings(raw)
    assert caught.value.variables == tuple(sorted(required))
    assert all(f"{name} is required when {spec.name} is a provider" in str(caught.value) for name in required)


@pytest.mark.parametrize("spec", [s for s in SPECS.values() if s.caller_setting], ids=lambda s: s.name)
def test_config_refuses_a_caller_number_not_in_e164(spec: ProviderSpec) -> None:
    name = spec.caller_setting or ""
    with pytest.raises(ConfigError, match=f"^{name} must be a phone number in E.164 form"):
        load_settings(settings_for(spec.name, **{name: "0800 NOT A NUMBER"}))


@pytest.mark.parametrize("spec", [s for s in SPECS.values() if not s.sends], ids=lambda s: s.name)
def test_production_refuses_a_provider_that_sends_nothing(spec: ProviderSpec) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"APP_ENV": "production", "SMS_PROVIDER": spec.name, "VOICE_PROVIDER": spec.name})
    assert f"SMS_PROVIDER must not be {spec.name} in production (it sends nothing)" in str(caught.value)
