"""Authenticator apps through /v1/factors, on both stores: codes made by pyotp (what Google
Authenticator, Authy and 1Password compute) at the edges of time steps with a clock driven by hand,
one step of drift accepted and no more, each step accepted once, 5 wrong codes per 15 minutes, the
secret encrypted at rest and never shown again, and the factor's events logged once."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pyotp
import pytest
import redis
from conftest import BASE_CONFIG
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from telephony.store import MemoryStore, keys
from tests.test_events import SECRET as WEBHOOK_SECRET
from tests.test_events import Receiver, receiver, work  # noqa: F401 - `receiver` is a fixture of the events tests
from webhooks import qr

IDENTITY = "user-1234-abcd"
STEP = 30


def enrolled(client: FlaskClient, identity: str = IDENTITY, **body: str) -> dict:
    response = client.post("/v1/factors", json={"identity": identity, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def attempt(client: FlaskClient, factor: dict, code: str, kind: str = "check") -> dict:
    response = client.post(f"/v1/factors/{factor['id']}/{kind}", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def wrong_code(secret: str, now: float) -> str:
    """A code that matches none of the steps a check at `now` accepts."""
    app = pyotp.TOTP(secret)
    near = {app.at(now + d) for d in (-STEP, 0, STEP)}
    return next(c for c in ("000000", "111111", "222222") if c not in near)


def step_start(now: float) -> float:
    return float(int(now) // STEP * STEP)


# --- the codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("into_step", [0, 29], ids=["first-second", "last-second"])
def test_one_step_of_drift_either_way_and_no_more(make_app, clock, into_step: int) -> None:
    client = make_app().test_client()
    t = clock.now = step_start(clock.now) + into_step
    f = enrolled(client)
    app = pyotp.TOTP(f["secret"])
    assert attempt(client, f, app.at(t - 2 * STEP), "verify")["valid"] is False
    verified = attempt(client, f, app.at(t - STEP), "verify")
    assert verified["valid"] is True and verified["status"] == "verified"
    assert attempt(client, f, app.at(t))["valid"] is True
    assert attempt(client, f, app.at(t + STEP))["valid"] is True
    assert attempt(client, f, app.at(t + 2 * STEP))["valid"] is False


def test_each_accepted_code_is_refused_afterwards_and_every_earlier_step_too(make_app, clock) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    app, t = pyotp.TOTP(f["secret"]), clock.now
    assert attempt(client, f, app.at(t), "verify")["valid"] is True
    assert attempt(client, f, app.at(t))["valid"] is False  # the same code again: a replay
    assert attempt(client, f, app.at(t - STEP))["valid"] is False  # an earlier step, though within drift
    assert attempt(client, f, app.at(t + STEP))["valid"] is True
    for earlier in (t + STEP, t, t - STEP):
        assert attempt(client, f, app.at(earlier))["valid"] is False
    clock.advance(10 * STEP)  # much later: the next code works, the refusals above spent nothing
    assert attempt(client, f, app.at(clock.now))["valid"] is True


def test_five_wrong_codes_in_15_minutes_then_429_until_the_window_has_passed(make_app, clock) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    app = pyotp.TOTP(f["secret"])
    for _ in range(5):
        assert attempt(client, f, wrong_code(f["secret"], clock.now), "verify")["valid"] is False
    refused = client.post(f"/v1/factors/{f['id']}/verify", json={"code": app.at(clock.now)})  # even the right one
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "900"
    clock.advance(600)
    later = client.post(f"/v1/factors/{f['id']}/verify", json={"code": app.at(clock.now)})
    assert later.status_code == 429 and later.headers["Retry-After"] == "300"
    clock.advance(301)
    assert attempt(client, f, app.at(clock.now), "verify")["status"] == "verified"


def test_wrong_codes_spread_over_more_than_15_minutes_never_lock(make_app, clock) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    for _ in range(8):
        assert attempt(client, f, wrong_code(f["secret"], clock.now), "verify")["valid"] is False
        clock.advance(181)  # 5 of them span 724 s... and the 6th comes 905 s after the first
    assert attempt(client, f, pyotp.TOTP(f["secret"]).at(clock.now), "verify")["valid"] is True


# --- the API's answers -------------------------------------------------------------------------


def test_creation_alone_answers_the_secret_its_uri_and_qr_code(make_app, clock) -> None:
    client = make_app().test_client()
    response = client.post("/v1/factors", json={"identity": IDENTITY, "friendly_name": "alice@example.com",
                                                "issuer": "Acme Inc"})  # fmt: skip
    f = response.get_json()
    assert response.status_code == 201 and response.headers["Location"].endswith(f"/v1/factors/{f['id']}")
    assert list(f) == ["id", "identity", "friendly_name", "issuer", "status", "created_at", "verified_at",
                       "secret", "uri", "qr_svg"]  # fmt: skip
    assert f["id"].startswith("tf_") and (f["status"], f["verified_at"]) == ("unverified", None)
    parsed = pyotp.parse_uri(f["uri"])
    assert (parsed.secret, parsed.name, parsed.issuer, parsed.digits, parsed.interval) == (
        f["secret"], "alice@example.com", "Acme Inc", 6, 30)  # fmt: skip
    assert f["uri"].startswith("otpauth://totp/Acme%20Inc:alice%40example.com?secret=")
    assert f["uri"].endswith("&issuer=Acme%20Inc&algorithm=SHA1&digits=6&period=30")
    assert len(f["secret"]) == 32  # 160 bits of base32
    svg = ET.fromstring(f["qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and f["qr_svg"] == qr.svg(f["uri"])
    plain = enrolled(client, "user-5678-efgh")
    assert (plain["friendly_name"], plain["issuer"]) == ("user-5678-efgh", "Verify")  # OTP_BRAND


def test_the_secret_is_never_shown_again(make_app, clock) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    code = pyotp.TOTP(f["secret"]).at(clock.now)
    answers = [client.get(f"/v1/factors/{f['id']}"), client.get("/v1/factors", query_string={"identity": IDENTITY}),
               client.post(f"/v1/factors/{f['id']}/verify", json={"code": code}),
               client.post(f"/v1/factors/{f['id']}/check", json={"code": code})]  # fmt: skip
    for response in answers:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert f["secret"] not in text and "otpauth" not in text and "svg" not in text
    assert answers[0].get_json() == {k: v for k, v in f.items() if k not in ("secret", "uri", "qr_svg")}


def test_check_before_verification_is_409_and_spends_nothing(make_app, clock) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    for _ in range(6):
        response = client.post(f"/v1/factors/{f['id']}/check", json={"code": "123456"})
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "factor_unverified"
    assert attempt(client, f, pyotp.TOTP(f["secret"]).at(clock.now), "verify")["valid"] is True


def test_list_get_and_delete(make_app, clock) -> None:
    client = make_app().test_client()
    first = enrolled(client)
    clock.advance(1)
    second = enrolled(client, friendly_name="phone")
    enrolled(client, "someone-else-01")
    listed = client.get("/v1/factors", query_string={"identity": IDENTITY}).get_json()["factors"]
    assert [f["id"] for f in listed] == [first["id"], second["id"]]
    assert client.get("/v1/factors", query_string={"identity": "nobody-at-all"}).get_json() == {"factors": []}
    response = client.delete(f"/v1/factors/{first['id']}")
    assert response.status_code == 204 and response.get_data() == b""
    for gone in (client.get(f"/v1/factors/{first['id']}"), client.delete(f"/v1/factors/{first['id']}"),
                 client.post(f"/v1/factors/{first['id']}/verify", json={"code": "123456"})):  # fmt: skip
        assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "not_found"
    assert [f["id"] for f in client.get("/v1/factors?identity=" + IDENTITY).get_json()["factors"]] == [second["id"]]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"identity": "short"}, "identity"), ({"identity": "user 1234 abcd"}, "identity"),
        ({"identity": IDENTITY, "issuer": "Acme:Corp"}, "issuer"), ({"identity": IDENTITY, "friendly_name": ""}, "friendly_name"),
        ({"identity": IDENTITY, "secret": "JBSWY3DPEHPK3PXP"}, "Unknown field"), ({}, "identity"),
    ],
)  # fmt: skip
def test_bad_creations_are_400(make_app, body: dict, why: str) -> None:
    response = make_app().test_client().post("/v1/factors", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"
    assert why in response.get_json()["error"]["message"]


def test_bad_requests_on_a_factor(make_app) -> None:
    client = make_app().test_client()
    f = enrolled(client)
    for code in ("12ab", "12", 123456, "\uff11\uff12\uff13\uff14\uff15\uff16"):  # full-width digits too
        response = client.post(f"/v1/factors/{f['id']}/verify", json={"code": code})
        assert response.status_code == 400, code
    assert client.get("/v1/factors").status_code == 400  # no identity
    assert client.get("/v1/factors/tf_nothing").status_code == 404
    assert client.get("/v1/factors/vf_" + f["id"][3:]).status_code == 404


def test_factors_need_the_api_key(make_app) -> None:
    client = make_app(API_KEYS="factor-key-0123456789").test_client()
    assert client.post("/v1/factors", json={"identity": IDENTITY}).status_code == 401
    assert client.get("/v1/factors?identity=" + IDENTITY).status_code == 401
    ok = client.post("/v1/factors", json={"identity": IDENTITY}, headers={"Authorization": "Bearer factor-key-0123456789"})
    assert ok.status_code == 201


# --- at rest -------------------------------------------------------------------------------------


def shared_store(store_kind: str, request: pytest.FixtureRequest, clock) -> Callable[..., Flask]:
    """Apps of different settings over one store, as a restart with a new SECRET_KEY would see it."""
    memory = MemoryStore(clock=clock)
    url = request.getfixturevalue("redis_url") if store_kind == "redis" else ""

    def build(**settings: str) -> Flask:
        config = {**BASE_CONFIG, **settings}
        if url:
            return create_app({**config, "REDIS_URL": url}, clock=clock)
        return create_app(config, store=memory, clock=clock)

    return build


def test_the_secret_is_encrypted_at_rest_and_opens_after_a_key_rotation(
    store_kind: str, request: pytest.FixtureRequest, clock
) -> None:
    build = shared_store(store_kind, request, clock)
    old = build(SECRET_KEY="the-old-secret-key-0123456789")
    f = enrolled(old.test_client())
    if store_kind == "redis":
        raw = redis.Redis.from_url(request.getfixturevalue("redis_url")).hgetall(keys.factor(f["id"]))
        assert raw and b"x" in raw
        at_rest = b" ".join([*raw.keys(), *raw.values()])
    else:
        at_rest = repr(old.extensions["verification"].store._factors).encode()
    assert f["secret"].encode() not in at_rest and f["secret"].lower().encode() not in at_rest
    rotated = build(SECRET_KEY="the-new-secret-key-0123456789", SECRET_KEY_FALLBACKS="the-old-secret-key-0123456789")
    client = rotated.test_client()
    assert [g["id"] for g in client.get("/v1/factors?identity=" + IDENTITY).get_json()["factors"]] == [f["id"]]
    assert attempt(client, f, pyotp.TOTP(f["secret"]).at(clock.now), "verify")["valid"] is True
    forgotten = build(SECRET_KEY="the-new-secret-key-0123456789").test_client()  # the old key dropped
    response = forgotten.post(f"/v1/factors/{f['id']}/check", json={"code": pyotp.TOTP(f["secret"]).at(clock.now + 30)})
    assert response.status_code == 500  # its secret opens for no configured key: never a wrong "valid"


# --- lifecycle events ------------------------------------------------------------------------------


def test_verified_and_deleted_are_logged_once_with_the_factor_as_v1_shows_it(make_app, clock) -> None:
    app = make_app()
    client = app.test_client()
    f = enrolled(client)
    app_codes = pyotp.TOTP(f["secret"])
    attempt(client, f, app_codes.at(clock.now - STEP), "verify")
    shown = client.get(f"/v1/factors/{f['id']}").get_json()
    attempt(client, f, app_codes.at(clock.now))  # a later check makes no event
    work(app, rounds=3)
    assert client.delete(f"/v1/factors/{f['id']}").status_code == 204
    work(app, rounds=3)
    listed = client.get("/v1/events").get_json()["events"]
    assert [(e["type"], e["data"]["id"]) for e in listed] == [("factor.verified", f["id"]), ("factor.deleted", f["id"])]
    assert listed[0]["data"] == shown and listed[1]["data"] == shown  # deleted as it last was
    assert listed[0]["id"] == "evt_" + f["id"][3:] + "_verified" and listed[0]["delivery"]["status"] == "none"
    assert f["secret"] not in json.dumps(listed)


def test_a_factors_events_are_delivered_signed_to_webhook_url(make_app, clock, receiver: Receiver) -> None:  # noqa: F811
    app = make_app(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=WEBHOOK_SECRET)
    client = app.test_client()
    f = enrolled(client)
    attempt(client, f, pyotp.TOTP(f["secret"]).at(clock.now), "verify")
    deadline = time.monotonic() + 10
    while not receiver.at("/hook") and time.monotonic() < deadline:
        work(app, rounds=1)
    (hit,) = receiver.at("/hook")
    payload = hit.verified()
    assert payload["type"] == "factor.verified" and payload["data"]["id"] == f["id"]
    assert payload["data"]["status"] == "verified" and f["secret"] not in hit.body.decode()


# --- the command line ----------------------------------------------------------------------------


def test_cli_enrols_with_a_qr_code_then_checks(make_app, clock) -> None:
    app = make_app()
    runner = app.test_cli_runner()
    enrol = runner.invoke(args=["otp", "totp", "enrol", IDENTITY, "--name", "alice@example.com", "--issuer", "Acme"])
    assert enrol.exit_code == 0, enrol.output
    fid = re.search(r"^factor  (tf_[0-9a-f]{32})$", enrol.output, re.M).group(1)
    secret = re.search(r"^secret  ([A-Z2-7]{32})$", enrol.output, re.M).group(1)
    assert "\u2580" in enrol.output or "\u2584" in enrol.output  # the QR code's half blocks
    assert "otpauth://totp/Acme:alice%40example.com?secret=" + secret in enrol.output
    code = pyotp.TOTP(secret).at(clock.now)
    first = runner.invoke(args=["otp", "totp", "check", fid, code])
    assert first.exit_code == 0 and first.output == "right code: the factor is verified now\n"
    again = runner.invoke(args=["otp", "totp", "check", fid, code])
    assert again.exit_code == 1 and "already used" in again.output
    later = runner.invoke(args=["otp", "totp", "check", fid, pyotp.TOTP(secret).at(clock.now + STEP)])
    assert later.exit_code == 0 and later.output == "right code\n"
    unknown = runner.invoke(args=["otp", "totp", "check", "tf_" + "0" * 32, code])
    assert unknown.exit_code == 1 and "not_found" in unknown.output
    bad = runner.invoke(args=["otp", "totp", "enrol", "short"])
    assert bad.exit_code == 1 and "invalid_request" in bad.output


def test_the_demo_pages_factor_endpoints(make_app, clock) -> None:
    client = make_app(DEMO_ENABLED="1").test_client()
    made = client.post("/demo/factors", json={"identity": IDENTITY, "name": "alice@example.com"})
    assert made.status_code == 201 and made.get_json()["qr_svg"].startswith("<svg")
    f = made.get_json()
    code = pyotp.TOTP(f["secret"]).at(clock.now)
    assert client.post(f"/demo/factors/{f['id']}/check", json={"code": code}).status_code == 409
    verified = client.post(f"/demo/factors/{f['id']}/verify", json={"code": code}).get_json()
    assert verified["valid"] is True and verified["status"] == "verified" and "secret" not in verified
    assert client.post(f"/demo/factors/{f['id']}/check", json={"code": code}).get_json()["valid"] is False
    assert client.post("/demo/factors", json={"identity": "no"}).status_code == 400
