"""TOTP factors and challenges under /v2 through the official twilio-python client, against a real
Werkzeug server (tests/test_twilio_verify_v2.py's `serve`), with codes from pyotp as an
authenticator app makes them; and a factor's event delivered to a /v2 webhook, signed for
RequestValidator."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pyotp
import pytest
from twilio.request_validator import RequestValidator

from tests.test_events import Receiver, receiver, work  # noqa: F401 - `receiver` is a fixture
from tests.test_twilio_verify_v2 import Served, serve, twilio_error  # noqa: F401 - `serve` is a fixture

IDENTITY = "ff483d1f-f591-898a-9942-916050d2ca3f"


def entity(s: Served, issuer: str = "Acme"):
    va = s.client.verify.v2.services.create(friendly_name="Acme Bank", totp_issuer=issuer).sid
    return va, s.client.verify.v2.services(va).entities(IDENTITY)


def enrolled(s: Served, **config: object):
    va, person = entity(s)
    factor = person.new_factors.create(friendly_name="alice@example.com", factor_type="totp", **config)
    return va, person, factor


def test_enrol_verify_and_challenge_through_the_official_client(serve) -> None:  # noqa: F811
    s = serve()
    va, person, factor = enrolled(s, config_skew=2)  # two steps of drift: three fresh codes right now
    assert factor.sid.startswith("YF") and len(factor.sid) == 34 and factor.status == "unverified"
    assert factor.service_sid == va and factor.url.endswith(f"/v2/Services/{va}/Entities/{IDENTITY}/Factors/{factor.sid}")
    assert factor.identity == IDENTITY and factor.entity_sid.startswith("YE") and factor.factor_type == "totp"
    assert factor.config == {"alg": "sha1", "skew": 2, "code_length": 6, "time_step": 30}
    secret = factor.binding["secret"]
    parsed = pyotp.parse_uri(factor.binding["uri"])
    assert (parsed.secret, parsed.issuer, parsed.name) == (secret, "Acme", "alice@example.com")

    now = time.time()
    codes = [pyotp.TOTP(secret).at(now + 30 * step) for step in range(3)]  # three steps: each usable once
    verified = person.factors(factor.sid).update(auth_payload=codes[0])
    assert verified.status == "verified" and getattr(verified, "binding", None) is None
    fetched = person.factors(factor.sid).fetch()
    assert fetched.status == "verified" and fetched.date_created is not None
    assert [f.sid for f in person.factors.list()] == [factor.sid]

    approved = person.challenges.create(factor_sid=factor.sid, auth_payload=codes[1])
    assert approved.sid.startswith("YC") and approved.status == "approved" and approved.factor_sid == factor.sid
    assert approved.date_responded is not None and approved.expiration_date > approved.date_created
    wrong = person.challenges.create(factor_sid=factor.sid, auth_payload="000000" if "000000" not in codes else "111111")
    assert wrong.status == "pending" and wrong.date_responded is None
    assert person.challenges(wrong.sid).update(auth_payload=codes[1]).status == "pending"  # used already
    answered = person.challenges(wrong.sid).update(auth_payload=codes[2])
    assert answered.status == "approved"
    assert person.challenges(approved.sid).fetch().status == "approved"
    listed = person.challenges.list(factor_sid=factor.sid)
    assert [c.sid for c in listed] == [approved.sid, wrong.sid]
    assert [c.sid for c in person.challenges.list(status="pending")] == []

    assert person.factors(factor.sid).delete() is True
    gone = twilio_error(lambda: person.factors(factor.sid).fetch())
    assert (gone.code, gone.status) == (20404, 404)


def test_a_wrong_code_leaves_the_factor_unverified_and_the_sixth_attempt_is_60310(serve) -> None:  # noqa: F811
    s = serve()
    _, person, factor = enrolled(s)
    app = pyotp.TOTP(factor.binding["secret"])
    near = {app.at(time.time() + d) for d in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    for _ in range(5):
        assert person.factors(factor.sid).update(auth_payload=wrong).status == "unverified"
    limited = twilio_error(lambda: person.factors(factor.sid).update(auth_payload=app.now()))
    assert (limited.code, limited.status) == (60310, 429)
    not_a_code = twilio_error(lambda: person.factors(factor.sid).update(auth_payload="abc"))
    assert (not_a_code.code, not_a_code.status) == (60311, 403)


def test_challenges_of_an_unverified_factor_expired_ones_and_too_many_wrong_codes(serve) -> None:  # noqa: F811
    s = serve()
    _, person, factor = enrolled(s)
    unverified = twilio_error(lambda: person.challenges.create(factor_sid=factor.sid, auth_payload="123456"))
    assert (unverified.code, unverified.status) == (60318, 403)
    app = pyotp.TOTP(factor.binding["secret"])
    assert person.factors(factor.sid).update(auth_payload=app.now()).status == "verified"
    near = {app.at(time.time() + d) for d in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)

    soon = datetime.now(UTC) + timedelta(seconds=2)
    expiring = person.challenges.create(factor_sid=factor.sid, expiration_date=soon)
    assert expiring.status == "pending"
    time.sleep(2.1)
    assert person.challenges(expiring.sid).fetch().status == "expired"
    late = twilio_error(lambda: person.challenges(expiring.sid).update(auth_payload=app.now()))
    assert (late.code, late.status) == (60323, 403)

    for _ in range(5):
        assert person.challenges.create(factor_sid=factor.sid, auth_payload=wrong).status == "pending"
    limited = twilio_error(lambda: person.challenges.create(factor_sid=factor.sid, auth_payload=app.now()))
    assert (limited.code, limited.status) == (60308, 429)


def test_factors_of_another_identity_or_service_are_not_found(serve) -> None:  # noqa: F811
    s = serve()
    va, person, factor = enrolled(s)
    other_service = s.client.verify.v2.services.create(friendly_name="Other").sid
    for context in (s.client.verify.v2.services(va).entities("someone-else-01").factors(factor.sid),
                    s.client.verify.v2.services(other_service).entities(IDENTITY).factors(factor.sid)):  # fmt: skip
        missing = twilio_error(context.fetch)
        assert (missing.code, missing.status) == (20404, 404)
    bad = twilio_error(lambda: person.new_factors.create(friendly_name="x", factor_type="push"))
    assert (bad.code, bad.status) == (60200, 400)
    own = person.new_factors.create(friendly_name="own secret", factor_type="totp", binding_secret="JBSWY3DPEHPK3PXP",
                                    config_code_length=8, config_time_step=60, config_alg="sha256")  # fmt: skip
    assert own.binding["secret"] == "JBSWY3DPEHPK3PXP"
    assert own.binding["uri"].endswith("&algorithm=SHA256&digits=8&period=60")


@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_a_factors_event_reaches_the_services_webhook_signed(make_app, clock, receiver: Receiver) -> None:  # noqa: F811
    app = make_app(API_KEYS="first-key")
    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"AC{'0' * 32}:first-key".encode()).decode()}
    va = client.post("/v2/Services", data={"FriendlyName": "Acme"}, headers=auth).get_json()["sid"]
    url = receiver.url.replace("/hook", "/twilio")
    client.post(f"/v2/Services/{va}/Webhooks", headers=auth,
                data={"FriendlyName": "factors", "EventTypes": ["factor.verified"], "WebhookUrl": url})  # fmt: skip
    made = client.post(f"/v2/Services/{va}/Entities/{IDENTITY}/Factors", headers=auth,
                       data={"FriendlyName": "alice", "FactorType": "totp"}).get_json()  # fmt: skip
    code = pyotp.TOTP(made["binding"]["secret"]).at(clock.now)
    verified = client.post(f"/v2/Services/{va}/Entities/{IDENTITY}/Factors/{made['sid']}", headers=auth,
                           data={"AuthPayload": code})  # fmt: skip
    assert verified.get_json()["status"] == "verified"
    work(app, rounds=3)
    (hit,) = receiver.at("/twilio")
    params = dict(parse_qsl(hit.body.decode()))
    assert RequestValidator("first-key").validate(url, params, hit.headers["x-twilio-signature"])
    assert (params["type"], params["factor_sid"], params["entity_identity"]) == ("factor.verified", made["sid"], IDENTITY)
    assert (params["factor_type"], params["status"], params["service_sid"]) == ("totp", "verified", va)
    assert made["binding"]["secret"] not in hit.body.decode()


@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_the_60310_and_60308_answers_say_when_to_try_again(make_app, clock) -> None:
    client = make_app().test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"AC{'0' * 32}:any".encode()).decode()}
    va = client.post("/v2/Services", data={"FriendlyName": "Acme"}, headers=auth).get_json()["sid"]
    factors = f"/v2/Services/{va}/Entities/{IDENTITY}/Factors"
    made = client.post(factors, headers=auth, data={"FriendlyName": "alice", "FactorType": "totp"}).get_json()
    app = pyotp.TOTP(made["binding"]["secret"])
    near = {app.at(clock.now + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    for _ in range(5):
        client.post(f"{factors}/{made['sid']}", headers=auth, data={"AuthPayload": wrong})
    clock.advance(100)
    limited = client.post(f"{factors}/{made['sid']}", headers=auth, data={"AuthPayload": app.at(clock.now)})
    assert limited.status_code == 429 and limited.get_json()["code"] == 60310 and limited.headers["Retry-After"] == "800"
    clock.advance(800)
    assert client.post(f"{factors}/{made['sid']}", headers=auth, data={"AuthPayload": app.at(clock.now)}).get_json()[
        "status"] == "verified"  # fmt: skip
    challenges = f"/v2/Services/{va}/Entities/{IDENTITY}/Challenges"
    for _ in range(5):
        client.post(challenges, headers=auth, data={"FactorSid": made["sid"], "AuthPayload": wrong})
    limited = client.post(challenges, headers=auth, data={"FactorSid": made["sid"], "AuthPayload": wrong})
    assert limited.status_code == 429 and limited.get_json()["code"] == 60308 and limited.headers["Retry-After"] == "900"
