"""Plivo signatures cannot be replayed or downgraded (issue 11, item 2).

V2 signs neither the body nor the query, so it is taken only where Plivo sends nothing better
(inbound SMS, message callbacks); every voice webhook needs V3. Every nonce a request carries is
used up, in one namespace, for 30 days: no captured request, replayed later with any subset of
its headers, changes anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from carriers import NUMBER, PLIVO, CarrierApi, answer_params, call_status, carrier_api, config, inbound, spoken
from conftest import BASE_URL, Clock
from flask.testing import FlaskClient
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature

VICTIM = "+14155550123"
_nonces = itertools.count(7 * 10**19)


def v3(url: str, params: dict[str, str], nonce: str | None = None) -> dict[str, str]:
    """Voice signature headers, made by Plivo's SDK."""
    nonce = nonce or str(next(_nonces))
    token = PLIVO["PLIVO_AUTH_TOKEN"]
    signature = get_signature_v3(token.encode(), construct_post_url(url, dict(params)).decode(), nonce.encode())
    assert validate_v3_signature("POST", url, nonce, token, signature.decode(), params)
    return {"X-Plivo-Signature-V3": signature.decode(), "X-Plivo-Signature-V3-Nonce": nonce}


def v2(url: str, nonce: str | None = None) -> dict[str, str]:
    """Messaging signature headers: HMAC-SHA256 of the URL without its query, then the nonce."""
    nonce = nonce or str(next(_nonces))
    token = PLIVO["PLIVO_AUTH_TOKEN"]
    signature = base64.b64encode(
        hmac.new(token.encode(), (url.split("?")[0] + nonce).encode(), hashlib.sha256).digest()
    )
    assert validate_signature(url, nonce, signature.decode(), token)  # the SDK's own check agrees
    return {"X-Plivo-Signature-V2": signature.decode(), "X-Plivo-Signature-V2-Nonce": nonce}


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


@pytest.fixture
def client(make_app, api: CarrierApi) -> FlaskClient:
    return make_app(**config("plivo")).test_client()


def start(client: FlaskClient, to: str = NUMBER, channel: str = "call") -> dict:
    response = client.post("/v1/verifications", json={"to": to, "channel": channel})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post(client: FlaskClient, url: str, params: dict[str, str], headers: dict[str, str]):
    return client.post(url.removeprefix(BASE_URL), data=params, headers=headers)


def opted_out(client: FlaskClient, number: str) -> bool:
    refused = client.post("/v1/verifications", json={"to": number, "channel": "sms"})
    return refused.status_code == 403 and refused.get_json()["error"]["code"] == "opted_out"


@pytest.mark.parametrize("route", ["answer", "menu", "call status"])
def test_every_voice_webhook_refuses_v2_alone(client: FlaskClient, route: str) -> None:
    v = start(client)
    call_id = v["sends"][0]["provider_id"]
    url, params = {
        "answer": (f"{BASE_URL}/webhooks/plivo/voice/{v['id']}?a=0", answer_params("plivo", call_id)),
        "menu": (f"{BASE_URL}/webhooks/plivo/voice/{v['id']}/menu?a=0&r=0", answer_params("plivo", call_id, Digits="1")),
        "call status": (f"{BASE_URL}/webhooks/plivo/status/call/{v['id']}?a=0", call_status("plivo", call_id, "busy")),
    }[route]  # fmt: skip
    response = post(client, url, params, v2(url))
    assert response.status_code == 403 and b"Speak" not in response.get_data()
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v
    assert post(client, url, params, v3(url, params)).status_code in (200, 204)  # what Plivo sends is taken


def test_an_answer_request_replayed_with_only_its_v2_headers_hears_nothing(client: FlaskClient) -> None:
    v = start(client)
    url = f"{BASE_URL}/webhooks/plivo/voice/{v['id']}?a=0"
    params = answer_params("plivo", v["sends"][0]["provider_id"])
    both = {**v2(url), **v3(url, params)}
    assert spoken(ET.fromstring(post(client, url, params, both).get_data()))  # the call itself
    replay = {k: both[k] for k in ("X-Plivo-Signature-V2", "X-Plivo-Signature-V2-Nonce")}
    response = client.post(url.removeprefix(BASE_URL), data=b"", headers=replay)
    assert response.status_code == 403 and b"Speak" not in response.get_data()


def test_an_sms_signed_both_ways_cannot_be_replayed_with_v2_alone(client: FlaskClient) -> None:
    url = f"{BASE_URL}/webhooks/plivo/sms"
    params = inbound("plivo", "hello")
    both = {**v2(url), **v3(url, params)}
    assert post(client, url, params, both).status_code == 200
    replay = {k: both[k] for k in ("X-Plivo-Signature-V2", "X-Plivo-Signature-V2-Nonce")}
    forged = inbound("plivo", "STOP", sender=VICTIM)  # V2 binds no body: only its nonce stops this
    assert post(client, url, forged, replay).status_code == 403
    assert not opted_out(client, VICTIM)
    assert post(client, url, forged, {k: both[k] for k in both if "V3" in k}).status_code == 403  # V3 binds it


def test_v2_and_v3_nonces_are_one_namespace(client: FlaskClient) -> None:
    sms = f"{BASE_URL}/webhooks/plivo/sms"
    used = v2(sms)
    assert post(client, sms, inbound("plivo", "hello"), used).status_code == 200
    v = start(client)
    url = f"{BASE_URL}/webhooks/plivo/voice/{v['id']}?a=0"
    params = answer_params("plivo", v["sends"][0]["provider_id"])
    response = post(client, url, params, v3(url, params, nonce=used["X-Plivo-Signature-V2-Nonce"]))
    assert response.status_code == 403 and b"Speak" not in response.get_data()


def test_one_nonce_in_both_headers_is_one_use(client: FlaskClient) -> None:
    url = f"{BASE_URL}/webhooks/plivo/sms"
    params = inbound("plivo", "hello")
    nonce = str(next(_nonces))
    assert post(client, url, params, {**v2(url, nonce), **v3(url, params, nonce)}).status_code == 200
    assert post(client, url, params, v2(url, nonce)).status_code == 403


@pytest.mark.parametrize("store_kind", ["memory"])  # Redis expires keys on its own clock, not the test's
def test_nonces_are_remembered_thirty_days(make_app, api: CarrierApi, clock: Clock) -> None:
    client = make_app(**config("plivo")).test_client()
    url = f"{BASE_URL}/webhooks/plivo/sms"
    captured = v2(url)
    assert post(client, url, inbound("plivo", "hello"), captured).status_code == 200
    clock.advance(29 * 86400)
    assert post(client, url, inbound("plivo", "STOP", sender=VICTIM), captured).status_code == 403
    assert not opted_out(client, VICTIM)
