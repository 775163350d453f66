"""Abuse limits on both stores: send limits, the per-number guessing budget, SMS pumping, geo."""

from __future__ import annotations

import time

import pytest
from conftest import NUMBER, newest_code, start
from flask.testing import FlaskClient

from telephony.limits import Counter, Pumping, Rule, SendPlan
from telephony.store import MemoryStore
from telephony.store.redis import RedisStore


def error_of(response) -> str:
    return response.get_json()["error"]["code"]


def outbox(client: FlaskClient) -> list[dict]:
    return client.get("/dev/outbox").get_json()["sends"]


def test_per_number_limit_refuses_with_retry_after_and_sends_nothing(make_app, clock) -> None:
    # No cooldown: each start after the first sends the pending verification again, and counts.
    client = make_app(OTP_LIMIT_NUMBER="3/600,5/86400", OTP_RESEND_COOLDOWN="0").test_client()
    assert [start(client).status_code for _ in range(3)] == [201, 200, 200]
    refused = start(client)
    assert refused.status_code == 429 and error_of(refused) == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert len(outbox(client)) == 3
    assert start(client, to="+14155550101").status_code == 201  # another number is not affected


def test_per_number_limit_counts_resends_too(make_app) -> None:
    client = make_app(OTP_LIMIT_NUMBER="2/600", OTP_RESEND_COOLDOWN="0").test_client()
    v = start(client).get_json()
    assert client.post(f"/v1/verifications/{v['id']}/resend").status_code == 200
    refused = client.post(f"/v1/verifications/{v['id']}/resend")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert client.get(f"/v1/verifications/{v['id']}").get_json()["sends_left"] == 3  # the refusal spent nothing


def test_prefix_limit(make_app) -> None:
    client = make_app(OTP_LIMIT_PREFIX="2/3600").test_client()
    assert start(client, "+14155550100").status_code == 201
    assert start(client, "+14155550101").status_code == 201
    assert start(client, "+14155550102").status_code == 429  # same prefix +1415555
    assert start(client, "+14155560100").status_code == 201


def test_ip_and_api_key_limits(make_app) -> None:
    client = make_app(OTP_LIMIT_IP="2/600", API_KEYS="a,b").test_client()
    auth = {"Authorization": "Bearer a"}

    def keyed(to: str, client_ip: str) -> int:
        return client.post("/v1/verifications", json={"to": to, "client_ip": client_ip}, headers=auth).status_code

    assert keyed("+14155550100", "203.0.113.7") == 201
    assert keyed("+14155550200", "203.0.113.7") == 201
    assert keyed("+14155550300", "203.0.113.7") == 429
    assert keyed("+14155550300", "203.0.113.8") == 201  # another end user behind the same backend


def test_api_key_limit(make_app) -> None:
    keyed = make_app(OTP_LIMIT_API_KEY="1/3600", API_KEYS="a,b").test_client()
    assert start(keyed, "+14155550100", headers={"Authorization": "Bearer a"}).status_code == 201
    assert start(keyed, "+14155550200", headers={"Authorization": "Bearer a"}).status_code == 429
    assert start(keyed, "+14155550200", headers={"Authorization": "Bearer b"}).status_code == 201


def test_country_limit(make_app) -> None:
    client = make_app(OTP_LIMIT_COUNTRY="1/3600").test_client()
    assert start(client, "+14155550100").status_code == 201
    assert start(client, "+12125550100").status_code == 429
    assert start(client, "+33612345678").status_code == 201


def test_limit_windows_reset(make_app, clock, store_kind: str) -> None:
    client = make_app(OTP_LIMIT_NUMBER="1/1", OTP_RESEND_COOLDOWN="0").test_client()
    assert start(client).status_code == 201
    refused = start(client)
    assert refused.status_code == 429 and "Too many codes" in refused.get_json()["error"]["message"]
    if store_kind == "redis":
        time.sleep(1.05)  # Redis expires counters on its own clock
    else:
        clock.advance(1)
    assert start(client).status_code == 200  # the pending verification, sent again


def test_new_verifications_do_not_reset_the_guessing_budget(make_app) -> None:
    client = make_app(OTP_LIMIT_CHECKS="4/14400", OTP_LIMIT_NUMBER="10/600").test_client()
    wrong = 0
    for _ in range(2):
        v = start(client).get_json()
        code = newest_code(client)
        bad = "000000" if code != "000000" else "111111"
        for _ in range(2):
            assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": bad}).status_code == 200
            wrong += 1
        client.post(f"/v1/verifications/{v['id']}/cancel")  # the next start makes a new code
    assert wrong == 4
    fresh = start(client).get_json()
    right = newest_code(client)
    locked = client.post(f"/v1/verifications/{fresh['id']}/check", json={"code": right})
    assert locked.status_code == 429 and error_of(locked) == "rate_limited"
    assert int(locked.headers["Retry-After"]) == 14400
    assert client.get(f"/v1/verifications/{fresh['id']}").get_json()["status"] == "pending"  # nothing approved
    other = start(client, "+14155550177").get_json()
    assert client.post(f"/v1/verifications/{other['id']}/check", json={"code": newest_code(client)}).get_json()["valid"]


def test_an_approval_clears_the_number_s_wrong_codes(make_app) -> None:
    client = make_app(OTP_LIMIT_CHECKS="3/14400").test_client()
    for _ in range(2):
        v = start(client).get_json()
        code = newest_code(client)
        bad = "000000" if code != "000000" else "111111"
        client.post(f"/v1/verifications/{v['id']}/check", json={"code": bad})
        assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).get_json()["valid"]


def test_pumping_guard_blocks_a_prefix_whose_codes_are_never_used(make_app, caplog) -> None:
    client = make_app(OTP_PUMPING_MIN_SENDS="5", OTP_PUMPING_MIN_RATIO="0.5", OTP_LIMIT_PREFIX="off",
                      OTP_LIMIT_IP="off").test_client()  # fmt: skip
    numbers = [f"+1415555{n:04d}" for n in range(10, 20)]
    statuses = [start(client, n).status_code for n in numbers[:5]]
    assert statuses == [201] * 5
    blocked = start(client, numbers[5])
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == 3600
    assert start(client, numbers[6]).status_code == 429  # the prefix stays blocked
    assert start(client, "+14155560100").status_code == 201  # other prefixes are not
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("event=send.refused" in w and "reason=pumping" in w for w in warnings)
    assert len(outbox(client)) == 6


def test_pumping_guard_leaves_a_prefix_whose_codes_are_used(make_app) -> None:
    client = make_app(
        OTP_PUMPING_MIN_SENDS="5", OTP_PUMPING_MIN_RATIO="0.5", OTP_LIMIT_PREFIX="off", OTP_LIMIT_IP="off"
    ).test_client()
    for n in range(10, 22):
        v = start(client, f"+1415555{n:04d}").get_json()
        if n % 2 == 0 or n < 14:
            code = newest_code(client)
            assert client.post(f"/v1/verifications/{v['id']}/check", json={"code": code}).get_json()["valid"]
    assert start(client, "+14155550099").status_code == 201


@pytest.mark.parametrize(
    ("settings", "number", "status", "code"),
    [
        ({"OTP_ALLOWED_COUNTRIES": "US,CA"}, "+33612345678", 403, "country_not_allowed"),
        ({"OTP_ALLOWED_COUNTRIES": "us, fr"}, "+33612345678", 201, None),
        ({}, "+19005550100", 403, "destination_not_allowed"),  # US premium rate
        ({}, "+448712345678", 403, "destination_not_allowed"),  # UK 087, premium rate
    ],
)
def test_geo_permissions_and_unfit_numbers(make_app, settings: dict, number: str, status: int, code: str) -> None:
    client = make_app(**settings).test_client()
    response = start(client, number)
    assert response.status_code == status
    if code:
        assert error_of(response) == code
        assert outbox(client) == []


def test_auto_calls_a_landline_straight_away(make_app) -> None:
    client = make_app().test_client()
    v = start(client, "+442071838750", "auto").get_json()
    assert [s["channel"] for s in v["sends"]] == ["call"]
    assert outbox(client)[0]["channel"] == "call"


@pytest.fixture
def store(store_kind: str, clock, request: pytest.FixtureRequest):
    if store_kind == "memory":
        return MemoryStore(clock=clock)
    return RedisStore.from_url(request.getfixturevalue("redis_url"))


def plan(**changes: object) -> SendPlan:
    base = {"number": NUMBER, "number_rules": (Rule(2, 600),), "prefix_rules": (), "others": (),
            "pumping": None, "check_opt_out": True}  # fmt: skip
    return SendPlan(**{**base, **changes})


def test_store_admission_contract(store, clock) -> None:
    assert store.admit(plan()).ok and store.admit(plan()).ok
    refused = store.admit(plan())
    assert refused.outcome == "limited" and 1 <= refused.retry_after <= 600
    store.set_opted_out("+14155550101", True)
    assert store.admit(plan(number="+14155550101")).outcome == "opted_out"
    assert store.admit(plan(number="+14155550101", check_opt_out=False)).ok
    ip = plan(number="+14155550102", others=(Counter("ip:x", Rule(1, 600)),))
    assert store.admit(ip).ok
    assert store.admit(ip).outcome == "limited"
    pump = plan(number="+14155550103", number_rules=(), pumping=Pumping(2, 0.5, 3600, 600))
    assert store.admit(pump).ok and store.admit(pump).ok
    assert store.admit(pump).outcome == "pumping"
