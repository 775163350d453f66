"""Notices on every SMS provider: sent through the real SDK (HTTP intercepted), failed over when a
provider is down, `failed` with its event when none is left, and moved by signed delivery receipts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from carriers import NUMBER, TEXT_FIELD, CarrierApi, carrier_api, config, post, receipt
from conftest import BASE_URL, LIMITS_OFF
from flask import Flask
from flask.testing import FlaskClient

from telephony.delivery import Deliverer
from webhooks.event_views import EventPayloads

SMS = ["twilio", "plivo", "signalwire", "flowroute"]


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


def send(client: FlaskClient, kind: str = "phone_change_requested") -> dict:
    answer = client.post("/v1/notices", json={"to": NUMBER, "kind": kind, "locale": "de"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def events(app: Flask) -> list[tuple[str, str, str]]:
    """Run the worker's step once, then list the events as GET /v1/events shows them."""
    verification = app.extensions["verification"]
    deliverer = Deliverer(verification.settings, verification.store, EventPayloads())
    with app.app_context():
        deliverer.run_once()
    deliverer.close()
    listed = app.test_client().get("/v1/events").get_json()["events"]
    return [(e["type"], e["data"]["id"], e["data"]["status"]) for e in listed]


def deliver_receipt(client: FlaskClient, provider: str, n: dict, status: str) -> None:
    url = f"{BASE_URL}/webhooks/{provider}/status/message/{n['id']}?a={len(n['sends']) - 1}"
    assert post(client, provider, url, receipt(provider, n["sends"][-1]["provider_id"], status)).status_code == 204


@pytest.mark.parametrize("provider", SMS)
def test_a_notice_goes_out_and_its_receipt_moves_the_send(make_app, api: CarrierApi, provider: str) -> None:
    app = make_app(**config(provider, OTP_BRAND="Acme", **LIMITS_OFF))
    client = app.test_client()
    n = send(client)
    assert n["status"] == "sent" and n["sends"][0]["provider"] == provider and n["sends"][0]["provider_id"]
    body = api.sent(provider, "sms")[0][TEXT_FIELD[provider]]
    assert body.startswith("Acme: ") and "Telefonnummer" in body
    deliver_receipt(client, provider, n, "delivered")
    shown = client.get(f"/v1/notices/{n['id']}").get_json()
    assert shown["status"] == "sent" and shown["sends"][0]["status"] == "delivered"
    assert events(app) == [("notice.sent", n["id"], "sent")]


@pytest.mark.parametrize("provider", ["twilio", "plivo"])
def test_an_undelivered_receipt_fails_the_notice_with_its_event(make_app, api: CarrierApi, provider: str) -> None:
    app = make_app(**config(provider, **LIMITS_OFF))
    client = app.test_client()
    n = send(client, "password_reset")
    deliver_receipt(client, provider, n, "undelivered")
    shown = client.get(f"/v1/notices/{n['id']}").get_json()
    assert shown["status"] == "failed" and shown["sends"][0]["status"] == "undelivered"
    assert events(app) == [("notice.sent", n["id"], "sent"), ("notice.failed", n["id"], "failed")]


def test_a_provider_down_fails_over_to_the_next(make_app, api: CarrierApi) -> None:
    app = make_app(**config("twilio", "plivo", **LIMITS_OFF))
    api.down["twilio"] = 503
    n = send(app.test_client())
    assert n["status"] == "sent"
    assert [(s["provider"], s["status"]) for s in n["sends"]] == [("twilio", "failed"), ("plivo", "queued")]
    assert events(app) == [("notice.sent", n["id"], "sent")]


def test_every_provider_down_fails_the_notice_with_its_event(make_app, api: CarrierApi) -> None:
    app = make_app(**config("twilio", "signalwire", **LIMITS_OFF))
    api.down.update(twilio=503, signalwire=500)
    answer = app.test_client().post("/v1/notices", json={"to": NUMBER, "kind": "number_verified"})
    assert answer.status_code == 201
    n = answer.get_json()
    assert n["status"] == "failed" and [s["status"] for s in n["sends"]] == ["failed", "failed"]
    assert events(app) == [("notice.failed", n["id"], "failed")]
