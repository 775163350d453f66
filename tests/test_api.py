"""The /v1 API with the console provider, on both stores: flows, limits and every error shape."""

from __future__ import annotations

import re

import pytest
from conftest import NUMBER, TOPOLOGIES, Api, newest_code, started, store_url
from flask.testing import FlaskClient


@pytest.fixture(params=TOPOLOGIES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The API flows on every store: memory, one Redis, a Cluster, a Sentinel-watched primary."""
    return request.param


def error_of(response) -> str:
    return response.get_json()["error"]["code"]


def test_start_answers_the_contract_shape(api: Api) -> None:
    v = api.started()
    assert list(v) == [
        "id", "to", "status", "channel", "locale", "purpose", "checks_left", "sends_left",
        "created_at", "expires_at", "sends",
    ]  # fmt: skip
    assert v["id"].startswith("vf_") and v["to"] == NUMBER and v["status"] == "pending"
    assert (v["channel"], v["locale"], v["checks_left"], v["sends_left"]) == ("sms", "en", 5, 4)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["expires_at"])
    [send] = v["sends"]
    assert send["provider"] == "console" and send["status"] == "queued" and send["provider_id"].startswith("CN")
    assert api.get(v["id"]) == v


def test_number_is_answered_in_e164_whatever_the_input(api: Api) -> None:
    response = api.client.post("/v1/verifications", json={"to": "+1 (415) 555-0100"})
    assert response.get_json()["to"] == NUMBER


def test_sms_flow_wrong_then_right_then_again(api: Api) -> None:
    v = api.started()
    code = api.code()
    wrong = "000000" if code != "000000" else "111111"
    response = api.check(v["id"], wrong)
    assert response.status_code == 200
    assert (response.get_json()["valid"], response.get_json()["checks_left"]) == (False, 4)
    response = api.check(v["id"], code)
    assert (response.get_json()["valid"], response.get_json()["status"]) == (True, "approved")
    response = api.check(v["id"], code)
    assert response.status_code == 409 and error_of(response) == "not_pending"


def test_check_by_number_uses_the_newest_verification(api: Api) -> None:
    first = api.started()
    assert api.client.post(f"/v1/verifications/{first['id']}/cancel").status_code == 200
    newest = api.started()
    assert newest["id"] != first["id"]
    code = api.code()
    response = api.client.post("/v1/verification-checks", json={"to": "+1 415 555 0100", "code": code})
    assert response.status_code == 200
    assert (response.get_json()["id"], response.get_json()["valid"]) == (newest["id"], True)
    response = api.client.post("/v1/verification-checks", json={"to": NUMBER, "code": code})
    assert response.status_code == 404 and error_of(response) == "not_found"
    response = api.client.post("/v1/verification-checks", json={"to": "+14155550199", "code": code})
    assert response.status_code == 404


def test_five_wrong_codes_then_the_right_one_is_refused(api: Api) -> None:
    v = api.started()
    code = api.code()
    wrong = "000000" if code != "000000" else "111111"
    lefts = [api.check(v["id"], wrong).get_json() for _ in range(5)]
    assert [r["checks_left"] for r in lefts] == [4, 3, 2, 1, 0]
    assert lefts[-1]["status"] == "max_attempts_reached"
    response = api.check(v["id"], code)
    assert response.status_code == 429 and error_of(response) == "max_attempts_reached"
    assert api.get(v["id"])["status"] == "max_attempts_reached"


def test_resend_carries_the_same_code_after_the_cooldown(client: FlaskClient, clock, store_kind: str) -> None:
    v = started(client)
    code = newest_code(client)
    response = client.post(f"/v1/verifications/{v['id']}/resend", json={})
    assert response.status_code == 429 and error_of(response) == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    switched = client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"})
    assert switched.status_code == 200, switched.get_json()  # the first switch is never delayed
    assert switched.get_json()["channel"] == "call" and switched.get_json()["sends_left"] == 3
    outbox = client.get("/dev/outbox").get_json()["sends"]
    assert outbox[0]["channel"] == "call" and "answer_url" in outbox[0]
    assert code not in outbox[0]["answer_url"]


def test_resend_cooldown_doubles(make_app, clock) -> None:
    client = make_app(OTP_RESEND_COOLDOWN="0").test_client()
    v = started(client)
    for _ in range(3):
        assert client.post(f"/v1/verifications/{v['id']}/resend").status_code == 200
    response = client.post(f"/v1/verifications/{v['id']}/resend")
    assert response.status_code == 200 and response.get_json()["sends_left"] == 0
    response = client.post(f"/v1/verifications/{v['id']}/resend")
    assert response.status_code == 429 and error_of(response) == "rate_limited"


def test_cancel(api: Api) -> None:
    v = api.started()
    response = api.client.post(f"/v1/verifications/{v['id']}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "canceled"
    for action, body in (("cancel", None), ("resend", {}), ("check", {"code": "123456"})):
        response = api.client.post(f"/v1/verifications/{v['id']}/{action}", json=body)
        assert response.status_code == 409 and error_of(response) == "not_pending", action


def test_unknown_and_malformed_ids_are_not_found(api: Api) -> None:
    for vid in ("vf_00000000AAAAAAAAAAAAAAAAAAAAAA", "nonsense", "vf_{x}:*"):
        response = api.client.get(f"/v1/verifications/{vid}")
        assert response.status_code == 404 and error_of(response) == "not_found"


def test_expired_verification_is_not_found(make_app, clock, store_kind: str) -> None:
    import time

    if store_kind != "memory":
        # Redis expires the key on its own clock: start from the real time, not the whole second
        # the test clock rounds down to, or the one-second code may expire before it is saved.
        clock.now = time.time()
    client = make_app(OTP_TTL="1").test_client()
    v = started(client)
    code = newest_code(client)
    if store_kind != "memory":
        time.sleep(1.1)
    else:
        clock.advance(1)
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert response.status_code == 404 and error_of(response) == "not_found"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"to": "+1415"}}, 400, "invalid_phone_number"),
        ({"json": {"to": "not a number"}}, 400, "invalid_phone_number"),
        ({"json": {"to": 14155550100}}, 400, "invalid_request"),
        ({"json": {}}, 400, "invalid_request"),
        ({"json": {"to": NUMBER, "channel": "fax"}}, 400, "invalid_request"),
        ({"json": {"to": NUMBER, "locale": "xx"}}, 400, "invalid_request"),
        ({"json": {"to": NUMBER, "chanel": "sms"}}, 400, "invalid_request"),
        ({"json": ["to", NUMBER]}, 400, "invalid_request"),
        ({"data": '{"to": "+14155550100"', "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": b'{"to": "\xff"}', "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": '{"\\ud800": "x"}', "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": "to=%2B14155550100", "content_type": "application/x-www-form-urlencoded"}, 415,
         "unsupported_media_type"),
        ({"data": '{"to": "' + "1" * 17000 + '"}', "content_type": "application/json"}, 413, "payload_too_large"),
    ],
)  # fmt: skip
def test_bad_input_gets_the_contract_error(client: FlaskClient, kwargs: dict, status: int, code: str) -> None:
    response = client.post("/v1/verifications", **kwargs)
    assert response.status_code == status
    assert error_of(response) == code
    assert set(response.get_json()["error"]) == {"code", "message"}
    assert client.get("/dev/outbox").get_json()["sends"] == []  # nothing sent


@pytest.mark.parametrize("code", [123456, "12a456", "", "1" * 11, None])
def test_malformed_codes_are_invalid_requests_and_cost_no_check(client: FlaskClient, code: object) -> None:
    v = started(client)
    response = client.post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["checks_left"] == 5


def test_api_keys_are_required_when_configured(make_app) -> None:
    client = make_app(API_KEYS="key-one,key-two").test_client()
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic key-one"},
        {"Authorization": "key-one"},
    ):
        response = client.post("/v1/verifications", json={"to": NUMBER}, headers=headers)
        assert response.status_code == 401 and error_of(response) == "unauthorized"
    response = client.post("/v1/verifications", json={"to": NUMBER}, headers={"Authorization": "Bearer key-two"})
    assert response.status_code == 201


def test_responses_never_hold_the_code(api: Api) -> None:
    v = api.started()
    code = api.code()
    bodies = [
        api.client.get(f"/v1/verifications/{v['id']}").get_data(as_text=True),
        api.client.post(
            f"/v1/verifications/{v['id']}/check", json={"code": "0" * 6 if code != "0" * 6 else "1" * 6}
        ).get_data(as_text=True),
        api.client.post(f"/v1/verifications/{v['id']}/resend", json={"channel": "call"}).get_data(as_text=True),
        api.check(v["id"], code).get_data(as_text=True),
    ]
    assert all(code not in body for body in bodies)


def test_a_rotated_secret_keeps_codes_in_flight_valid(store_kind: str, clock, request) -> None:
    from conftest import BASE_CONFIG

    from app import create_app
    from telephony.store import MemoryStore

    config = {**BASE_CONFIG, "SECRET_KEY": "old-secret-0123456789"}
    shared = MemoryStore(clock=clock) if store_kind == "memory" else None
    if store_kind != "memory":
        config["REDIS_URL"] = store_url(request, store_kind)

    def client(**settings: str) -> FlaskClient:
        return create_app({**config, **settings}, store=shared, clock=clock).test_client()

    before = client()
    v = started(before)
    code = newest_code(before)
    forgot = client(SECRET_KEY="new-secret-0123456789").post(f"/v1/verifications/{v['id']}/check", json={"code": code})
    assert forgot.get_json()["valid"] is False  # without the fallback the old MAC matches nothing
    rotated = client(SECRET_KEY="new-secret-0123456789", SECRET_KEY_FALLBACKS="old-secret-0123456789")
    assert rotated.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).get_json()["valid"] is True
