"""TWILIO_API_URL and PLIVO_API_URL: the real adapters talk to another origin that speaks the
provider's REST API (bench/fake_provider.py here), and a provider that stalls past
PROVIDER_TIMEOUT fails over to the next one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from bench.fake_provider import FakeProvider
from telephony.errors import ConfigError
from tests.conftest import LIMITS_OFF, start
from tests.providers.carriers import config


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(delay=0.0, tail=0.0) as provider:
        yield provider


@pytest.fixture
def app(make_app: Callable[..., Flask], fake: FakeProvider) -> Flask:
    fake.set(delay=0.0, tail=0.0)
    fake.reset()
    settings = config("twilio", "plivo", TWILIO_API_URL=fake.url, PLIVO_API_URL=fake.url, PROVIDER_TIMEOUT="0.5")
    return make_app(**settings, **LIMITS_OFF)


def test_sends_go_to_the_configured_origin(app: Flask, fake: FakeProvider) -> None:
    client = app.test_client()
    sms = start(client, "+14155550101")
    call = start(client, "+14155550102", "call")
    assert sms.status_code == call.status_code == 201
    assert sms.get_json()["sends"][0]["provider_id"].startswith("SM")
    assert call.get_json()["sends"][0]["provider_id"].startswith("CA")
    assert fake.stats()["answered"]["twilio"] == {"sms": 1, "call": 1}


def test_a_stalled_provider_fails_over_after_provider_timeout(app: Flask, fake: FakeProvider) -> None:
    fake.set(delay=3.0, provider="twilio")
    began = time.monotonic()
    answer = start(app.test_client(), "+14155550103")
    took = time.monotonic() - began
    assert answer.status_code == 201
    sends = answer.get_json()["sends"]
    assert [(s["provider"], s["status"]) for s in sends] == [("twilio", "failed"), ("plivo", "queued")]
    assert 0.5 <= took < 2.0  # PROVIDER_TIMEOUT, not the stall
    assert fake.stats()["answered"]["plivo"]["sms"] == 1


@pytest.mark.parametrize(
    "value",
    ["http://api.example.com", "https://api.example.com/v1", "ftp://127.0.0.1", "https://", "https://h?x=1"],
)
def test_an_api_url_must_be_an_https_origin(make_app: Callable[..., Flask], value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_app(**config("twilio", TWILIO_API_URL=value))
    assert raised.value.variable == "TWILIO_API_URL"
