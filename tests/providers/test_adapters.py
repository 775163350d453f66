"""What each new adapter adds to the shared contract: error mapping, signature variants, quirks."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import requests
import responses
from carriers import (
    ENDPOINTS,
    FLOWROUTE,
    NUMBER,
    PLIVO,
    SIGNALWIRE,
    CarrierApi,
    answer_params,
    carrier_api,
    config,
    inbound,
    plivo_v2_headers,
    post,
    receipt,
    signed_headers,
    spoken,
)
from conftest import BASE_URL, TWILIO
from flask.testing import FlaskClient
from plivo.utils import validate_signature
from twilio.request_validator import RequestValidator

from telephony.errors import ConfigError, ProviderError
from telephony.providers import FormData, WebhookRequest
from telephony.providers.flowroute import FlowrouteProvider
from telephony.providers.plivo import PlivoProvider, v2_signature_valid
from telephony.providers.signalwire import SignalWireProvider
from telephony.store import MemoryStore

STATUS = f"{BASE_URL}/webhooks/x/status/message/vf_x?a=0"


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


def plivo_adapter(token: str = PLIVO["PLIVO_AUTH_TOKEN"]) -> PlivoProvider:
    return PlivoProvider(PLIVO["PLIVO_AUTH_ID"], token, PLIVO["PLIVO_FROM"], MemoryStore(), timeout=2)


def signalwire_adapter(space: str = SIGNALWIRE["SIGNALWIRE_SPACE"]) -> SignalWireProvider:
    s = SIGNALWIRE
    return SignalWireProvider(s["SIGNALWIRE_PROJECT"], s["SIGNALWIRE_TOKEN"], space, s["SIGNALWIRE_FROM"],
                              s["SIGNALWIRE_SIGNING_KEY"], timeout=2, ttl=600)  # fmt: skip


def flowroute_adapter() -> FlowrouteProvider:
    f = FLOWROUTE
    return FlowrouteProvider(f["FLOWROUTE_ACCESS_KEY"], f["FLOWROUTE_SECRET_KEY"], f["FLOWROUTE_FROM"],
                             f["FLOWROUTE_WEBHOOK_SECRET"], timeout=2)  # fmt: skip


ADAPTERS = {"plivo": plivo_adapter, "signalwire": signalwire_adapter, "flowroute": flowroute_adapter}


@pytest.mark.parametrize("provider", list(ADAPTERS))
@pytest.mark.parametrize(
    ("failure", "transient"),
    [(400, False), (404, False), (401, True), (403, True), (429, True), (500, True), (503, True),
     (requests.exceptions.ConnectTimeout("slow"), True), (requests.exceptions.ConnectionError("refused"), True)],
)  # fmt: skip
def test_send_failures_say_whether_another_provider_may_help(
    api: CarrierApi, provider: str, failure: int | Exception, transient: bool
) -> None:
    api.down[provider] = failure
    with pytest.raises(ProviderError) as info:
        ADAPTERS[provider]().send_sms(NUMBER, "Your code is 123456", status_url=STATUS)
    assert info.value.transient is transient and info.value.provider == provider
    assert NUMBER not in str(info.value) and "123456" not in str(info.value)


@pytest.mark.parametrize(
    ("provider", "body"),
    [("plivo", {"api_id": "x", "message": "message(s) queued"}), ("signalwire", {"status": "queued"}),
     ("flowroute", {"data": {"type": "message"}})],
)  # fmt: skip
def test_an_acceptance_without_an_id_fails_over(provider: str, body: dict) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, ENDPOINTS[(provider, "sms")], json=body, status=202)
        with pytest.raises(ProviderError) as info:
            ADAPTERS[provider]().send_sms(NUMBER, "hello", status_url=STATUS)
    # It may have been sent, but a second SMS with the same code beats an attempt stuck at queued
    # (issue 11, item 16).
    assert info.value.transient is True


def test_plivo_retries_calls_on_5xx_then_recovers(api: CarrierApi) -> None:
    adapter = plivo_adapter()
    api.down["plivo"] = 500
    with pytest.raises(ProviderError) as info:
        adapter.place_call(NUMBER, answer_url=f"{BASE_URL}/a", status_url=f"{BASE_URL}/s")
    assert info.value.transient and len(api.requests("plivo", "call")) == 3  # the SDK's own two retries
    del api.down["plivo"]
    assert adapter.place_call(NUMBER, answer_url=f"{BASE_URL}/a", status_url=f"{BASE_URL}/s")
    assert len(api.requests("plivo", "call")) == 4  # the SDK's retry counter did not stay raised


def test_plivo_refuses_a_malformed_auth_id_as_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        PlivoProvider("not-an-auth-id", "token", PLIVO["PLIVO_FROM"], MemoryStore(), timeout=1)
    assert info.value.variable == "PLIVO_AUTH_ID"


def test_provider_timeout_reaches_the_clients(make_app, api: CarrierApi) -> None:
    app = make_app(**config("plivo", "signalwire", "flowroute", PROVIDER_TIMEOUT="2.5"))
    providers = app.extensions["verification"].providers
    assert providers["plivo"]._client().timeout == 2.5
    assert providers["signalwire"]._timeout == providers["flowroute"]._timeout == 2.5


def test_flowroute_cannot_call() -> None:
    with pytest.raises(ProviderError) as info:
        flowroute_adapter().place_call(NUMBER, answer_url="https://x/a", status_url="https://x/s")
    assert info.value.transient is False


def test_signalwire_space_may_be_written_as_a_url(api: CarrierApi) -> None:
    signalwire_adapter("https://example.signalwire.com/").send_sms(NUMBER, "hello", status_url=STATUS)
    assert len(api.requests("signalwire", "sms")) == 1


# --- signatures and callbacks through the app ---------------------------------------------------


@pytest.fixture
def client(request: pytest.FixtureRequest, make_app, api: CarrierApi) -> FlaskClient:
    return make_app(**config(request.param)).test_client()


def start(client: FlaskClient, channel: str = "sms") -> dict:
    response = client.post("/v1/verifications", json={"to": NUMBER, "channel": channel})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("client", ["plivo"], indirect=True)
def test_plivo_accepts_a_nonce_once(client: FlaskClient) -> None:
    v = start(client, "call")
    url = f"{BASE_URL}/webhooks/plivo/voice/{v['id']}?a=0"
    params = answer_params("plivo", v["sends"][0]["provider_id"])
    headers = signed_headers("plivo", url, params)
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=headers).status_code == 200
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=headers).status_code == 403


@pytest.mark.parametrize("client", ["plivo"], indirect=True)
def test_plivo_accepts_any_of_several_v3_signatures(client: FlaskClient) -> None:
    v = start(client, "call")
    url = f"{BASE_URL}/webhooks/plivo/voice/{v['id']}?a=0"
    params = answer_params("plivo", v["sends"][0]["provider_id"])
    headers = signed_headers("plivo", url, params)
    headers["X-Plivo-Signature-V3"] = "c29tZSBvdGhlciBrZXk=," + headers["X-Plivo-Signature-V3"]
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=headers).status_code == 200


@pytest.mark.parametrize("client", ["plivo"], indirect=True)
def test_plivo_v2_is_accepted_with_a_fresh_nonce(client: FlaskClient) -> None:
    v = start(client)
    url = f"{BASE_URL}/webhooks/plivo/status/message/{v['id']}?a=0"
    message = receipt("plivo", v["sends"][0]["provider_id"], "delivered")
    wrong = client.post(url.removeprefix(BASE_URL), data=message, headers=plivo_v2_headers(url, token="other"))
    assert wrong.status_code == 403
    assert client.post(url.removeprefix(BASE_URL), data=message, headers=plivo_v2_headers(url)).status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "delivered"
    sms = f"{BASE_URL}/webhooks/plivo/sms"
    assert (
        client.post("/webhooks/plivo/sms", data=inbound("plivo", "hi"), headers=plivo_v2_headers(sms)).status_code
        == 200
    )
    headers = plivo_v2_headers(sms)
    assert client.post("/webhooks/plivo/sms", data=inbound("plivo", "hi"), headers=headers).status_code == 200
    replayed = client.post("/webhooks/plivo/sms", data=inbound("plivo", "hi"), headers=headers)
    assert replayed.status_code == 403


def test_plivo_v2_matches_the_sdk_and_its_test_vector() -> None:
    vector = ("https://answer.url", "12345", "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=", "my_auth_token")
    assert validate_signature(*vector)
    assert v2_signature_valid(*vector) and not v2_signature_valid(*vector[:3], "other_token")
    url = f"{BASE_URL}/webhooks/plivo/sms?a=1"
    headers = plivo_v2_headers(url)
    assert validate_signature(url, headers["X-Plivo-Signature-V2-Nonce"], headers["X-Plivo-Signature-V2"],
                              PLIVO["PLIVO_AUTH_TOKEN"])  # fmt: skip


@pytest.mark.parametrize("client", ["plivo"], indirect=True)
def test_plivo_reply_markup_names_both_numbers(client: FlaskClient) -> None:
    response = post(client, "plivo", f"{BASE_URL}/webhooks/plivo/sms", inbound("plivo", "HELP"))
    [message] = list(ET.fromstring(response.get_data()))
    assert (message.tag, message.get("src"), message.get("dst")) == ("Message", "14155550199", "14155550100")
    assert message.text


@pytest.mark.parametrize("client", ["signalwire"], indirect=True)
def test_signalwire_accepts_the_twilio_header_name_but_only_its_signing_key(client: FlaskClient) -> None:
    v = start(client, "call")
    url = f"{BASE_URL}/webhooks/signalwire/voice/{v['id']}?a=0"
    params = answer_params("signalwire", v["sends"][0]["provider_id"])
    alias = {
        "X-Twilio-Signature": RequestValidator(SIGNALWIRE["SIGNALWIRE_SIGNING_KEY"]).compute_signature(url, params)
    }
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=alias).status_code == 200
    token = {"X-SignalWire-Signature": RequestValidator(SIGNALWIRE["SIGNALWIRE_TOKEN"]).compute_signature(url, params)}
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=token).status_code == 403
    twilio = {"X-Twilio-Signature": RequestValidator(TWILIO["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)}
    assert client.post(url.removeprefix(BASE_URL), data=params, headers=twilio).status_code == 403


@pytest.mark.parametrize("client", ["signalwire"], indirect=True)
def test_signalwire_json_callbacks_are_read_too(client: FlaskClient) -> None:
    v = start(client)
    url = f"{BASE_URL}/webhooks/signalwire/status/message/{v['id']}?a=0"
    fields = {"MessageSid": v["sends"][0]["provider_id"], "MessageStatus": "delivered", "To": NUMBER}
    headers = {"X-SignalWire-Signature": RequestValidator(SIGNALWIRE["SIGNALWIRE_SIGNING_KEY"]).compute_signature(
        url, fields)}  # fmt: skip
    response = client.post(url.removeprefix(BASE_URL), data=json.dumps(fields), content_type="application/json",
                           headers=headers)  # fmt: skip
    assert response.status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "delivered"


@pytest.mark.parametrize("client", ["signalwire", "plivo"], indirect=True)
def test_a_machine_never_hears_the_code(client: FlaskClient) -> None:
    provider = client.application.extensions["verification"].settings.voice_providers[0]
    v = start(client, "call")
    machine = {"AnsweredBy": "machine"} if provider == "signalwire" else {"Machine": "true"}
    url = f"{BASE_URL}/webhooks/{provider}/voice/{v['id']}?a=0"
    response = post(client, provider, url, answer_params(provider, v["sends"][0]["provider_id"], **machine))
    assert response.status_code == 200 and spoken(ET.fromstring(response.get_data())) == []


@pytest.mark.parametrize("client", ["flowroute"], indirect=True)
def test_flowroute_needs_exactly_its_key(client: FlaskClient) -> None:
    v = start(client)
    body = json.dumps(receipt("flowroute", v["sends"][0]["provider_id"], "delivered"))
    path = f"/webhooks/flowroute/status/message/{v['id']}?a=0"
    secret = FLOWROUTE["FLOWROUTE_WEBHOOK_SECRET"]
    for query in ("", f"&key={secret}&key={secret}", f"&key={secret[:-1]}", f"&key={secret}x", f"&Key={secret}"):
        assert client.post(path + query, data=body, content_type="application/vnd.api+json").status_code == 403
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v


@pytest.mark.parametrize("client", ["flowroute"], indirect=True)
def test_flowroute_level_one_delivered_does_not_hide_a_later_failure(client: FlaskClient) -> None:
    v = start(client)
    url = f"{BASE_URL}/webhooks/flowroute/status/message/{v['id']}?a=0"
    message_id = v["sends"][0]["provider_id"]
    assert post(client, "flowroute", url, receipt("flowroute", message_id, "delivered", level=1)).status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "sent"
    assert post(client, "flowroute", url, receipt("flowroute", message_id, "failed", level=2)).status_code == 204
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends"][0]["status"] == "failed"


def test_flowroute_reads_the_legacy_flat_inbound_body() -> None:
    body = json.dumps({"to": "12065550100", "from": "14155550100", "body": "STOP", "id": "mdr1-abc"}).encode()
    parsed = flowroute_adapter().inbound_sms(WebhookRequest(url="https://x/", method="POST", headers={}, body=body))
    assert (parsed.message_id, parsed.from_number, parsed.to_number, parsed.body) == (
        "mdr1-abc", NUMBER, FLOWROUTE["FLOWROUTE_FROM"], "STOP")  # fmt: skip


def test_plivo_inbound_keeps_a_short_code_sender_as_received() -> None:
    form = FormData({"From": ["24273"], "To": ["14155550199"], "Text": ["hi"], "MessageUUID": ["m"]})
    parsed = plivo_adapter().inbound_sms(WebhookRequest(url="https://x/", method="POST", headers={}, form=form))
    assert (parsed.from_number, parsed.to_number) == ("24273", PLIVO["PLIVO_FROM"])


def test_signalwire_json_bodies_signed_by_hash_are_checked_against_the_body() -> None:
    body = json.dumps({"CallSid": "c-1", "CallStatus": "completed"})
    url = f"{BASE_URL}/webhooks/signalwire/status/call/vf_x?a=0&bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = RequestValidator(SIGNALWIRE["SIGNALWIRE_SIGNING_KEY"]).compute_signature(url, {})
    headers = {"X-Signalwire-Signature": signature}  # the web layer's spelling of the header
    adapter = signalwire_adapter()
    assert adapter.verify(WebhookRequest(url=url, method="POST", headers=headers, body=body.encode()))
    forged = body.replace("completed", "busy").encode()
    assert not adapter.verify(WebhookRequest(url=url, method="POST", headers=headers, body=forged))


def test_a_flowroute_callback_nested_too_deep_is_unparsable_not_a_crash() -> None:
    """Flowroute's callbacks carry the secret in the URL, so a keyed request reaches the JSON parser:
    a body nested past Python's recursion limit must be a 400, not a 500 (found by tests/test_fuzz.py)."""
    from telephony.providers.base import WebhookRequest
    from telephony.providers.flowroute import FlowrouteProvider

    provider = FlowrouteProvider("access", "secret", "+15005550006", "hook-secret", timeout=1)
    deep = WebhookRequest("https://verify.example.com/webhooks/flowroute/sms?key=hook-secret", "POST", {},
                          body=b"[" * 100_000 + b"]" * 100_000)  # fmt: skip
    with pytest.raises(ValueError):
        provider.inbound_sms(deep)
    with pytest.raises(ValueError):
        provider.message_status(deep)
