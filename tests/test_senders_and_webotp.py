"""Issue 12, item 12: SMS through a Twilio Messaging Service, and the WebOTP line."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest
import responses
from conftest import BASE_CONFIG, TWILIO

from app import create_app
from telephony.config import load_settings
from telephony.errors import ConfigError

SERVICE_SID = "MG" + "0123456789abcdef" * 2


def sent(twilio_api: responses.RequestsMock, kind: str) -> list[dict[str, list[str]]]:
    return [parse_qs(c.request.body) for c in twilio_api.calls if c.request.url.endswith(f"/{kind}.json")]


def test_sms_go_through_the_messaging_service_when_one_is_set(twilio_api: responses.RequestsMock) -> None:
    settings = {k: v for k, v in TWILIO.items() if k != "TWILIO_FROM"}
    config = {**BASE_CONFIG, "SMS_PROVIDER": "twilio", "VOICE_PROVIDER": "console", **settings,
              "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID}  # fmt: skip
    client = create_app(config).test_client()
    assert client.post("/v1/verifications", json={"to": "+14155550100"}).status_code == 201
    [message] = sent(twilio_api, "Messages")
    assert message["MessagingServiceSid"] == [SERVICE_SID] and "From" not in message


def test_calls_still_need_a_caller_number() -> None:
    settings = {k: v for k, v in TWILIO.items() if k != "TWILIO_FROM"}
    with pytest.raises(ConfigError) as refused:
        load_settings(
            {**BASE_CONFIG, "OTP_PROVIDER": "twilio", **settings, "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID}
        )
    assert "TWILIO_FROM" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TWILIO_FROM", SERVICE_SID, "TWILIO_MESSAGING_SERVICE_SID"),
        ("TWILIO_FROM", "AcmeCorp", "alphanumeric sender"),
        ("TWILIO_MESSAGING_SERVICE_SID", "MG123", "32 hex digits"),
    ],
)
def test_a_sender_that_is_no_number_is_named_for_what_it_is(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE_CONFIG, "OTP_PROVIDER": "twilio", **TWILIO, name: value})
    assert says in str(refused.value)


def test_the_sms_ends_with_the_webotp_line_for_the_configured_site(make_app) -> None:
    client = make_app(OTP_WEBOTP_DOMAIN="Login.Example.com").test_client()
    client.post("/v1/verifications", json={"to": "+14155550100"})
    body = client.get("/dev/outbox").get_json()["sends"][0]["body"]
    code = re.search(r"\b(\d{6})\b", body).group(1)
    assert body.splitlines()[-1] == f"@login.example.com #{code}"


def test_without_the_setting_there_is_no_webotp_line(make_app) -> None:
    client = make_app().test_client()
    client.post("/v1/verifications", json={"to": "+14155550100"})
    assert "@" not in client.get("/dev/outbox").get_json()["sends"][0]["body"]


@pytest.mark.parametrize("value", ["https://example.com", "example.com:443", "localhost", "exa mple.com", "-a.com"])
def test_a_webotp_domain_must_be_a_plain_host(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE_CONFIG, "OTP_WEBOTP_DOMAIN": value})
    assert "OTP_WEBOTP_DOMAIN" in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "hint"), [({}, "+ and country code"), ({"OTP_DEFAULT_REGION": "US"}, "or a US number")]
)
def test_the_demo_form_says_which_numbers_it_takes(make_app, settings: dict, hint: str) -> None:
    page = make_app(**settings).test_client().get("/").get_data(as_text=True)
    placeholders = re.findall(r'type="tel" placeholder="([^"]+)"', page)
    # The tutorial's two forms and the approval panel: each number field says what it takes.
    assert len(placeholders) == 3 and all(hint in p for p in placeholders)
    assert "E.164 phone number" not in page


def test_the_no_javascript_answer_to_a_bad_number_says_what_the_form_takes(make_app) -> None:
    client = make_app(OTP_DEFAULT_REGION="US").test_client()
    page = client.post("/request-auth", data={"number": "12"}, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "or a US number" in page.get_data(as_text=True)


def test_the_caller_number_reaches_the_carrier_as_config_checked_it(twilio_api: responses.RequestsMock) -> None:
    """Config accepts `+1 (500) 555-0006` for TWILIO_FROM by parsing it; the adapter gets that parse."""
    config = {**BASE_CONFIG, "OTP_PROVIDER": "twilio", **TWILIO, "TWILIO_FROM": "+1 (500) 555-0006"}
    assert create_app(config).test_client().post("/v1/verifications", json={"to": "+14155550100"}).status_code == 201
    [message] = sent(twilio_api, "Messages")
    assert message["From"] == ["+15005550006"]
