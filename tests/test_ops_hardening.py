"""Issue 11, items 4, 5, 8 and 10: metrics that no request can grow or read, toll-fraud destinations
refused, log lines that no request can forge, and production settings that cannot be weak."""

from __future__ import annotations

import logging
import re
import shutil

import phonenumbers
import pytest
from conftest import BASE_CONFIG, BASE_URL, ROOT, TWILIO, twilio_signature
from flask.testing import FlaskClient

from app import create_app
from telephony.config import gather, load_settings
from telephony.errors import ConfigError, DestinationNotAllowed
from telephony.events import event, logvalue
from telephony.limits import check_destination

TOKEN = "metrics-token-0123456789abcdef-0123"
STRONG = "a-strong-secret-of-32-characters-or-more"
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": STRONG,
    "API_KEYS": "api-key-0123456789abcdef-0123456789",
    "PUBLIC_BASE_URL": BASE_URL,
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "OTP_PROVIDER": "twilio",
    **TWILIO,
}


def series(client: FlaskClient, name: str) -> list[str]:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    return [line for line in text.splitlines() if line.startswith(name + "{")]


# --- 4. metrics: fixed label sets, and /metrics is not public -------------------------------------


def test_made_up_methods_and_paths_add_no_series(make_app) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    series(client, "otp_request_duration_seconds_count")  # /metrics' own series exists from here on
    before = series(client, "otp_request_duration_seconds_count")
    for i in range(40):
        client.open(f"/v1/verifications/made-up-{i}", method=f"FROB{i}")
        client.open(f"/nowhere-{i}", method="GET")
    after = series(client, "otp_request_duration_seconds_count")
    assert not any("FROB" in line or "made-up" in line or "nowhere" in line for line in after)
    assert len(after) - len(before) <= 2  # (unmatched, other, 405) and (unmatched, GET, 404)
    assert any('method="other"' in line and 'endpoint="unmatched"' in line for line in after)


def test_event_fields_become_labels_only_from_known_sets(make_app) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    event("send.refused", reason="made-up-reason")
    event("verification.fallback", trigger="MadeUpTrigger")
    event("webhook.signature_invalid", level=logging.WARNING, provider="made-up-provider")
    lines = [
        *series(client, "otp_sends_refused_total"),
        *series(client, "otp_fallbacks_total"),
        *series(client, "otp_webhook_signatures_rejected_total"),
    ]
    assert not any("made-up" in line or "MadeUp" in line for line in lines)
    assert 'otp_sends_refused_total{reason="other"}' in "\n".join(lines)


def test_metrics_token_is_required_when_set(make_app) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize(
    ("address", "status"),
    [("1.1.1.1", 403), ("2606:4700:4700::1111", 403), ("8.8.8.8", 403), ("100.64.0.1", 403), ("127.0.0.1", 200), ("::1", 200),
     ("10.1.2.3", 200), ("192.168.0.7", 200), ("172.16.5.4", 200), ("fd00::5", 200), ("::ffff:10.0.0.1", 200)],
)  # fmt: skip
def test_production_without_a_token_serves_metrics_to_private_networks_only(
    redis_url: str, address: str, status: int
) -> None:
    client = create_app({**PRODUCTION, "REDIS_URL": redis_url}).test_client()
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == status
    if status == 403:
        assert response.get_json()["error"]["code"] == "forbidden"


def test_development_keeps_metrics_open(make_app) -> None:
    client = make_app().test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "1.1.1.1"}).status_code == 200


# --- 5. toll-fraud destinations ----------------------------------------------------------------------

T = phonenumbers.PhoneNumberType


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


REFUSED = {
    "+447012345678": "personal_number",  # the review's UK 070 number
    _e164(phonenumbers.example_number_for_type("GB", T.PREMIUM_RATE)): "premium_rate",
    "+19005550100": "premium_rate",
    "+448712345678": "premium_rate",  # UK 087
    _e164(phonenumbers.example_number_for_type("FR", T.SHARED_COST)): "shared_cost",
    _e164(phonenumbers.example_number_for_type("GB", T.UAN)): "uan",
    _e164(phonenumbers.example_number_for_type("GB", T.PAGER)): "pager",
    _e164(phonenumbers.example_number_for_type("DE", T.VOICEMAIL)): "voicemail",
    _e164(phonenumbers.example_number_for_non_geo_entity(881)): "satellite",  # Iridium, Globalstar
    _e164(phonenumbers.example_number_for_non_geo_entity(870)): "satellite",  # Inmarsat
    _e164(phonenumbers.example_number_for_non_geo_entity(882)): "international_network",
    _e164(phonenumbers.example_number_for_non_geo_entity(883)): "international_network",
    _e164(phonenumbers.example_number_for_non_geo_entity(800)): "non_geographic",
    _e164(phonenumbers.example_number_for_non_geo_entity(808)): "non_geographic",
    _e164(phonenumbers.example_number_for_non_geo_entity(878)): "non_geographic",
    _e164(phonenumbers.example_number_for_non_geo_entity(888)): "non_geographic",
    _e164(phonenumbers.example_number_for_non_geo_entity(979)): "non_geographic",
}  # fmt: skip


@pytest.mark.parametrize("number", sorted(REFUSED))
def test_toll_fraud_destinations_are_refused_and_nothing_is_sent(make_app, number: str) -> None:
    client = make_app().test_client()
    for channel in ("sms", "call", "auto"):
        response = client.post("/v1/verifications", json={"to": number, "channel": channel})
        assert response.status_code == 403, (number, response.get_json())
        assert response.get_json()["error"]["code"] == "destination_not_allowed"
    assert client.get("/dev/outbox").get_json()["sends"] == []


@pytest.mark.parametrize("number", ["+14155550100", "+33612345678", "+442071838750", "+18005550100"])
def test_ordinary_numbers_still_pass(number: str) -> None:
    assert check_destination(number, frozenset()) in ("fixed_line", "other")


@pytest.mark.parametrize(("number", "kind"), sorted(REFUSED.items()))
def test_each_kind_is_allowed_only_by_its_own_name(number: str, kind: str) -> None:
    others = frozenset(name for name in set(REFUSED.values()) if name != kind)
    with pytest.raises(DestinationNotAllowed):
        check_destination(number, frozenset(), allowed_types=others)
    check_destination(number, frozenset(), allowed_types=frozenset({kind}))


def test_allowed_number_types_are_parsed_and_checked() -> None:
    settings = load_settings({**BASE_CONFIG, "OTP_ALLOWED_NUMBER_TYPES": " Satellite, premium_rate "})
    assert settings.allowed_number_types == frozenset({"satellite", "premium_rate"})
    assert load_settings(BASE_CONFIG).allowed_number_types == frozenset()
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE_CONFIG, "OTP_ALLOWED_NUMBER_TYPES": "satellite,moon"})
    assert info.value.variable == "OTP_ALLOWED_NUMBER_TYPES"


def test_the_setting_lets_an_allowed_kind_through(make_app) -> None:
    client = make_app(OTP_ALLOWED_NUMBER_TYPES="satellite").test_client()
    iridium = _e164(phonenumbers.example_number_for_non_geo_entity(881))
    assert client.post("/v1/verifications", json={"to": iridium}).status_code == 201


# --- 8. log lines cannot be forged -------------------------------------------------------------------

FAKE = "event=verification.approved verification=vf_forged to=+1415*****00"


@pytest.mark.parametrize(
    ("value", "logged"),
    [("plain", "plain"), ("", '""'), ("a b", '"a b"'), ('say "hi"', r'"say \"hi\""'), ("k=v", '"k=v"'),
     ("back\\slash", r'"back\\slash"'), ("line\nbreak", r'"line\nbreak"'), ("cr\rlf", r'"cr\rlf"'),
     ("tab\t", r'"tab\t"'), ("bell\x07", r'"bell\x07"'), ("sep\u2028", r'"sep\u2028"'), ("café", "café"), (42, "42")],
)  # fmt: skip
def test_logvalue_escapes_what_could_break_a_line(value: object, logged: str) -> None:
    assert logvalue(value) == logged


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records).splitlines()


def _forged(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"(^|\s)event=verification\.approved", line)]


def test_a_newline_in_an_unsigned_path_cannot_forge_a_line(make_app, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    caplog.set_level(logging.INFO)
    caplog.clear()
    path = "/webhooks/twilio/status/message/vf_x%0A" + FAKE.replace(" ", "%20")
    assert client.post(path, data={"MessageSid": "SMx", "MessageStatus": "sent"}).status_code == 403
    lines = _lines(caplog)
    assert len(lines) == len(caplog.records) == 1
    assert _forged(lines) == []
    assert "event=webhook.signature_invalid" in lines[0]


def test_a_newline_in_a_signed_unparsable_webhook_cannot_forge_a_line(
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    caplog.set_level(logging.INFO)
    caplog.clear()
    signed_url = f"{BASE_URL}/webhooks/twilio/status/message/vf_x\n{FAKE}"
    path = "/webhooks/twilio/status/message/vf_x%0A" + FAKE.replace(" ", "%20")
    signature = twilio_signature(signed_url, {})
    assert client.post(path, headers={"X-Twilio-Signature": signature}).status_code == 400
    lines = _lines(caplog)
    assert len(lines) == len(caplog.records) == 1
    assert _forged(lines) == [] and "event=webhook.unparsable" in lines[0]


def test_a_newline_in_the_path_of_an_unexpected_error_cannot_forge_a_line(
    make_app, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()

    def broken(rest: str) -> str:
        raise RuntimeError(f"broken at {rest}")

    app.add_url_rule("/broken/<rest>", view_func=broken)
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = app.test_client().get("/broken/x%0A" + FAKE.replace(" ", "%20"))
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    lines = _lines(caplog)
    assert len(lines) == len(caplog.records) == 1
    assert _forged(lines) == [] and "event=request.error" in lines[0] and "RuntimeError" in lines[0]


def test_event_values_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event("sms.inbound", provider="twilio", message=f"MM1\n{FAKE}", keyword="other")
    [line] = _lines(caplog)
    assert _forged([line]) == [] and line.endswith("keyword=other")


# --- 10. production refuses weak settings -------------------------------------------------------------


def test_a_strong_production_config_loads() -> None:
    for url in ("https://verify.example.com", "http://127.0.0.1:5000", "http://127.9.9.9", "http://localhost:8000",
                "http://[::1]:5000"):  # fmt: skip
        assert load_settings({**PRODUCTION, "PUBLIC_BASE_URL": url}).public_base_url == url


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"PUBLIC_BASE_URL": "http://verify.example.com"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "http://10.0.0.5:8000"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "http://localhost.example.com"}, "PUBLIC_BASE_URL"),
        ({"SECRET_KEY": "s" * 31}, "SECRET_KEY"),
        ({"SECRET_KEY_FALLBACKS": f"{STRONG},short-old-secret-0123"}, "SECRET_KEY_FALLBACKS"),
        ({"API_KEYS": f"{STRONG},k1"}, "API_KEYS"),
        ({"METRICS_TOKEN": "t" * 31}, "METRICS_TOKEN"),
        ({"OTP_LENGTH": "5"}, "OTP_LENGTH"),
        ({"OTP_MAX_CHECKS": "11"}, "OTP_MAX_CHECKS"),
        ({"OTP_LIMIT_NUMBER": "off"}, "OTP_LIMIT_NUMBER"),
    ],
)
def test_production_refuses_weak_settings(change: dict, variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**PRODUCTION, **change})
    assert info.value.variable == variable and str(info.value).startswith(variable + " ")
    settings = load_settings({**PRODUCTION, **change, "APP_ENV": "test"})  # development may be weak
    assert settings.app_env == "test"


FIELDS = {"OTP_LIMIT_NUMBER": "limit_number", "OTP_LIMIT_PREFIX": "limit_prefix", "OTP_LIMIT_COUNTRY": "limit_country",
          "OTP_LIMIT_IP": "limit_ip", "OTP_LIMIT_API_KEY": "limit_api_key", "OTP_LIMIT_REPLIES": "limit_replies",
          "OTP_LIMIT_NOTICES": "limit_notices", "OTP_LIMIT_CHECKS": "limit_checks"}  # fmt: skip
LIMITS = tuple(FIELDS)


@pytest.mark.parametrize("name", LIMITS)
def test_an_empty_limit_means_the_default_and_off_disables_it(name: str) -> None:
    default = getattr(load_settings(BASE_CONFIG), FIELDS[name])
    assert default
    assert getattr(load_settings({**BASE_CONFIG, name: ""}), FIELDS[name]) == default
    assert getattr(load_settings({**BASE_CONFIG, name: "  "}), FIELDS[name]) == default
    assert not getattr(load_settings({**BASE_CONFIG, name: "off"}), FIELDS[name])
    assert not getattr(load_settings({**BASE_CONFIG, name: "OFF"}), FIELDS[name])


@pytest.mark.parametrize(
    "name", ["OTP_PUMPING_MIN_SENDS", "OTP_PUMPING_MIN_RATIO", "OTP_PUMPING_WINDOW", "OTP_PUMPING_COOLOFF"]
)
def test_an_empty_pumping_setting_means_the_default_and_off_disables_the_guard(name: str) -> None:
    default = load_settings(BASE_CONFIG).pumping
    assert default is not None
    assert load_settings({**BASE_CONFIG, name: ""}).pumping == default
    assert load_settings({**BASE_CONFIG, name: "off"}).pumping is None


def test_a_copied_env_example_starts_with_every_protection_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    raw = gather({"APP_ENV": "development"}, environ={})
    settings, defaults = load_settings(raw), load_settings({"APP_ENV": "development"})
    for name in (*FIELDS.values(), "pumping", "otp_length", "otp_max_checks", "allowed_number_types"):
        assert getattr(settings, name) == getattr(defaults, name), name
    assert settings.limit_number and settings.pumping is not None
    names = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert {"METRICS_TOKEN", "OTP_ALLOWED_NUMBER_TYPES", *FIELDS} <= names
