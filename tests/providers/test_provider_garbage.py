"""Issue 11, item 16: a 2xx answer that cannot be read (not JSON, no id, an id of the wrong type)
is a transient provider error, so the next provider carries the send. The real SDKs and clients
parse each answer; only the HTTP layer is replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from carriers import ENDPOINTS, NUMBER, CarrierApi, carrier_api, config

GARBAGE = {  # what each provider's create call answered in the review, or could
    "not json": "<html><body>502 Bad Gateway (but 2xx)</body></html>",
    "empty": "",
    "no id": '{"status": "queued", "message": "ok", "data": {"type": "message"}}',
    "wrong types": '{"sid": 12345, "message_uuid": [7], "request_uuid": {"a": 1}, "data": {"id": 9}}',
    "a list": '[{"sid": "SM1"}]',
    "a number": "42",
}
STATUS = {"twilio": 201, "signalwire": 201, "plivo": 202, "flowroute": 202}


@pytest.fixture
def api() -> Iterator[CarrierApi]:
    yield from carrier_api()


def answer_garbage(api: CarrierApi, provider: str, kind: str, body: str) -> None:
    url = ENDPOINTS[(provider, kind)]
    api.mock.remove(responses.POST, url)
    api.mock.add(responses.POST, url, body=body, status=STATUS[provider], content_type="application/json")


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
@pytest.mark.parametrize(("first", "second"), [("twilio", "signalwire"), ("signalwire", "twilio"),
                                               ("plivo", "twilio"), ("flowroute", "signalwire")])  # fmt: skip
def test_an_unreadable_sms_answer_fails_over(make_app, api: CarrierApi, first: str, second: str, garbage: str) -> None:
    client = make_app(**config(first, second)).test_client()
    answer_garbage(api, first, "sms", GARBAGE[garbage])
    response = client.post("/v1/verifications", json={"to": NUMBER})
    assert response.status_code == 201, response.get_json()
    v = response.get_json()
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [(first, "failed"), (second, "queued")]
    assert v["sends"][0]["provider_id"] is None and v["sends"][1]["provider_id"]
    assert v["status"] == "pending" and v["sends_left"] == 4
    assert len(api.requests(first, "sms")) == 1 and len(api.requests(second, "sms")) == 1
    assert client.get(f"/v1/verifications/{v['id']}").get_json() == v


@pytest.mark.parametrize("garbage", ["not json", "no id", "wrong types"])
@pytest.mark.parametrize(("first", "second"), [("twilio", "plivo"), ("plivo", "signalwire"), ("signalwire", "twilio")])
def test_an_unreadable_call_answer_fails_over(make_app, api: CarrierApi, first: str, second: str, garbage: str) -> None:
    client = make_app(**config(first, second)).test_client()
    answer_garbage(api, first, "call", GARBAGE[garbage])
    response = client.post("/v1/verifications", json={"to": NUMBER, "channel": "call"})
    assert response.status_code == 201, response.get_json()
    v = response.get_json()
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [(first, "failed"), (second, "queued")]
    assert len(api.requests(second, "call")) == 1


def test_garbage_from_the_only_provider_is_a_502_not_a_500(make_app, api: CarrierApi) -> None:
    client = make_app(**config("twilio")).test_client()
    answer_garbage(api, "twilio", "sms", GARBAGE["not json"])
    response = client.post("/v1/verifications", json={"to": NUMBER})
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "provider_error"
    [tried] = api.sent("twilio", "sms")
    vid = tried["StatusCallback"].split("/status/message/")[1].split("?")[0]
    v = client.get(f"/v1/verifications/{vid}").get_json()
    assert [(s["provider"], s["status"]) for s in v["sends"]] == [("twilio", "failed")]  # not stuck at queued
