"""/v2 through the official twilio-python client, as a black box: a real HTTP server on a free
port (Werkzeug's, threaded), the client's Verify base URL pointed at it and nothing else changed.
Codes are read from the development outbox, as a person would read them on the phone."""

from __future__ import annotations

import base64
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import responses
from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from werkzeug.serving import make_server

from app import create_app
from telephony.store import MemoryStore
from tests.conftest import BASE_CONFIG, LIMITS_OFF, store_url

ACCOUNT = "AC" + "1" * 32
KEY = "v2-test-api-key-0123456789abcdef"
MOBILE, OTHER, LANDLINE_GB = "+14155550111", "+14155550112", "+442079460000"


@dataclass
class Served:
    app: Flask
    base: str
    client: Client

    def code(self, to: str) -> str:
        sends = self.app.test_client().get("/dev/outbox").get_json()["sends"]
        body = next(s["body"] for s in sends if s.get("to") == to and "body" in s)
        return re.search(r"\b(\d{4,10})\b", body).group(1)

    def bodies(self, to: str) -> list[str]:
        sends = self.app.test_client().get("/dev/outbox").get_json()["sends"]
        return [s["body"] for s in sends if s.get("to") == to and "body" in s]


@pytest.fixture(params=["memory", "redis"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., Served]]:
    servers = []

    def build(password: str = KEY, **settings: str) -> Served:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        config = {**BASE_CONFIG, **LIMITS_OFF, "PUBLIC_BASE_URL": base, "API_KEYS": KEY, "ACCOUNT_SID": ACCOUNT,
                  "OTP_RESEND_COOLDOWN": "0", **settings}  # fmt: skip
        if request.param == "redis":
            config["REDIS_URL"] = store_url(request, "redis")
            app = create_app(config)
        else:
            app = create_app(config, store=MemoryStore())
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        client = Client(ACCOUNT, password)
        client.verify.base_url = base  # the one line an application changes
        return Served(app, base, client)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")  # the client talks to our server for real
        yield build
    for server in servers:
        server.shutdown()


def twilio_error(call: Callable[[], object]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_the_verify_flow_through_the_official_client(serve: Callable[..., Served]) -> None:
    s = serve()
    service = s.client.verify.v2.services.create(friendly_name="Acme")
    assert service.sid.startswith("VA") and len(service.sid) == 34 and service.friendly_name == "Acme"
    verifications = s.client.verify.v2.services(service.sid).verifications

    started = verifications.create(to=MOBILE, channel="sms")
    assert started.sid.startswith("VE") and started.status == "pending" and started.channel == "sms"
    assert started.send_code_attempts[0]["attempt_sid"].startswith("VL")
    assert started.date_created is not None and started.url.startswith(s.base)
    code = s.code(MOBILE)
    assert "Acme" in s.bodies(MOBILE)[0]

    again = verifications.create(to=MOBILE, channel="sms")  # a repeat while pending: same SID, same code
    assert again.sid == started.sid and len(again.send_code_attempts) == 2
    assert s.bodies(MOBILE)[0] == s.bodies(MOBILE)[1]

    assert verifications(started.sid).fetch().sid == started.sid
    assert verifications(MOBILE).fetch().sid == started.sid

    checks = s.client.verify.v2.services(service.sid).verification_checks
    wrong = checks.create(to=MOBILE, code="000000" if code != "000000" else "111111")
    assert wrong.status == "pending" and wrong.valid is False
    right = checks.create(verification_sid=started.sid, code=code)
    assert right.status == "approved" and right.valid is True

    gone = twilio_error(lambda: verifications(started.sid).fetch())
    assert (gone.code, gone.status) == (20404, 404)
    late = twilio_error(lambda: checks.create(to=MOBILE, code=code))
    assert (late.code, late.status) == (20404, 404)


def test_call_auto_cancel_and_approve_by_update(serve: Callable[..., Served]) -> None:
    s = serve()
    sid = s.client.verify.v2.services.create(friendly_name="Acme").sid
    verifications = s.client.verify.v2.services(sid).verifications
    call = verifications.create(to=MOBILE, channel="call")
    assert call.channel == "call" and call.status == "pending"
    assert verifications(call.sid).update(status="canceled").status == "canceled"
    auto = verifications.create(to=OTHER, channel="auto")
    assert auto.channel == "sms"
    assert verifications(OTHER).update(status="approved").status == "approved"


def test_services_are_listed_updated_and_deleted(serve: Callable[..., Served]) -> None:
    s = serve()
    services = s.client.verify.v2.services
    first = services.create(friendly_name="One", code_length=8, psd2_enabled=True)
    services.create(friendly_name="Two")
    assert [x.friendly_name for x in services.list()] == ["One", "Two"]
    assert first.code_length == 8 and first.psd2_enabled is True
    updated = services(first.sid).update(friendly_name="Uno", custom_code_enabled=True)
    assert updated.friendly_name == "Uno" and updated.custom_code_enabled is True
    assert services(first.sid).fetch().friendly_name == "Uno"
    assert services(first.sid).delete() is True
    assert twilio_error(lambda: services(first.sid).fetch()).code == 20404
    verifications = services.create(friendly_name="Eight", code_length=8).verifications
    verifications.create(to=MOBILE, channel="sms")
    assert len(s.code(MOBILE)) == 8


def test_psd2_binds_the_code_to_the_amount_and_the_payee(serve: Callable[..., Served]) -> None:
    s = serve()
    sid = s.client.verify.v2.services.create(friendly_name="Bank", psd2_enabled=True).sid
    s.client.verify.v2.services(sid).verifications.create(to=MOBILE, channel="sms", amount="€39.99", payee="Acme Corp")
    body = s.bodies(MOBILE)[0]
    assert "€39.99" in body and "Acme Corp" in body
    code = s.code(MOBILE)
    checks = s.client.verify.v2.services(sid).verification_checks
    assert checks.create(to=MOBILE, code=code, amount="€99.99", payee="Acme Corp").valid is False
    assert checks.create(to=MOBILE, code=code).valid is False
    assert checks.create(to=MOBILE, code=code, amount="€39.99", payee="Acme Corp").valid is True


def test_custom_codes_and_app_hash(serve: Callable[..., Served]) -> None:
    s = serve()
    services = s.client.verify.v2.services
    plain = services.create(friendly_name="Plain").sid
    refused = twilio_error(lambda: services(plain).verifications.create(to=MOBILE, channel="sms", custom_code="4321"))
    assert (refused.code, refused.status) == (60200, 400)
    sid = services.create(friendly_name="Custom", custom_code_enabled=True).sid
    services(sid).verifications.create(to=MOBILE, channel="sms", custom_code="482913", app_hash="FA+9qCX9VSu")
    assert s.code(MOBILE) == "482913"
    assert s.bodies(MOBILE)[0].endswith("\n\nFA+9qCX9VSu")
    assert services(sid).verification_checks.create(to=MOBILE, code="482913").status == "approved"


def test_rate_limit_buckets(serve: Callable[..., Served]) -> None:
    s = serve()
    service = s.client.verify.v2.services.create(friendly_name="Acme")
    limit = s.client.verify.v2.services(service.sid).rate_limits.create(unique_name="end_user_ip", description="IP")
    assert limit.sid.startswith("RK")
    again = twilio_error(lambda: s.client.verify.v2.services(service.sid).rate_limits.create(unique_name="end_user_ip"))
    assert (again.code, again.status) == (60208, 400)
    bucket = s.client.verify.v2.services(service.sid).rate_limits(limit.sid).buckets.create(max=2, interval=60)
    assert bucket.sid.startswith("BL") and bucket.max == 2
    assert [b.sid for b in s.client.verify.v2.services(service.sid).rate_limits(limit.sid).buckets.list()] == [
        bucket.sid
    ]
    verifications = s.client.verify.v2.services(service.sid).verifications
    for to in (MOBILE, OTHER):
        verifications.create(to=to, channel="sms", rate_limits={"end_user_ip": "203.0.113.9"})
    over = twilio_error(
        lambda: verifications.create(to="+14155550113", channel="sms", rate_limits={"end_user_ip": "203.0.113.9"})
    )
    assert (over.code, over.status) == (20429, 429)
    other_ip = verifications.create(to="+14155550113", channel="sms", rate_limits={"end_user_ip": "203.0.113.10"})
    assert other_ip.status == "pending"
    unknown = twilio_error(lambda: verifications.create(to=MOBILE, channel="sms", rate_limits={"nope": "1"}))
    assert unknown.code == 60200


def test_webhooks_resource(serve: Callable[..., Served]) -> None:
    s = serve()
    sid = s.client.verify.v2.services.create(friendly_name="Acme").sid
    webhooks = s.client.verify.v2.services(sid).webhooks
    made = webhooks.create(
        friendly_name="app", event_types=["verification.approved", "verification.canceled"],
        webhook_url="https://app.example.com/hooks",
    )  # fmt: skip
    assert made.sid.startswith("YW") and made.event_types == ["verification.approved", "verification.canceled"]
    assert made.status == "enabled"
    assert [w.sid for w in webhooks.list()] == [made.sid]
    assert webhooks(made.sid).update(status="disabled").status == "disabled"
    bad = twilio_error(lambda: webhooks.create(friendly_name="x", event_types=["nope"], webhook_url="https://a.b/"))
    assert bad.code == 60200
    plain_http = twilio_error(
        lambda: webhooks.create(friendly_name="x", event_types=["*"], webhook_url="http://app.example.com/")
    )
    assert plain_http.code == 60200
    assert webhooks(made.sid).delete() is True
    assert webhooks.list() == []


def test_every_error_code_reaches_the_client(serve: Callable[..., Served]) -> None:
    s = serve(OTP_MAX_CHECKS="2", OTP_MAX_SENDS="2", OTP_ALLOWED_COUNTRIES="US,GB")
    services = s.client.verify.v2.services
    sid = services.create(friendly_name="Acme", skip_sms_to_landlines=True).sid
    verifications, checks = services(sid).verifications, services(sid).verification_checks

    def code_of(call: Callable[[], object]) -> tuple[int, int]:
        error = twilio_error(call)
        return error.code, error.status

    wrong_password = serve(password="not-the-key")
    # (a list's page fetch raises the client's plain TwilioException on any non-200, Twilio's too)
    assert code_of(lambda: wrong_password.client.verify.v2.services(sid).fetch()) == (20003, 401)
    assert code_of(lambda: verifications("VE" + "0" * 32).fetch()) == (20404, 404)
    assert code_of(lambda: services("VA" + "0" * 32).fetch()) == (20404, 404)
    assert code_of(lambda: verifications.create(to="not a number", channel="sms")) == (60200, 400)
    assert code_of(lambda: verifications.create(to=MOBILE, channel="pigeon")) == (60200, 400)
    assert code_of(lambda: verifications.create(to=MOBILE, channel="whatsapp")) == (60223, 400)
    assert code_of(lambda: verifications.create(to=LANDLINE_GB, channel="sms")) == (60205, 400)
    assert verifications.create(to=LANDLINE_GB, channel="call").channel == "call"
    assert code_of(lambda: verifications.create(to="+33612345678", channel="sms")) == (60605, 403)

    verifications.create(to=MOBILE, channel="sms")
    verifications.create(to=MOBILE, channel="sms")  # the second and last send
    assert code_of(lambda: verifications.create(to=MOBILE, channel="sms")) == (60203, 429)
    wrong = "000000" if s.code(MOBILE) != "000000" else "111111"
    assert checks.create(to=MOBILE, code=wrong).status == "pending"
    assert code_of(lambda: checks.create(to=MOBILE, code=wrong)) == (60202, 429)
    assert code_of(lambda: checks.create(to=MOBILE, code=wrong)) == (20404, 404)

    s.app.extensions["verification"].store.set_opted_out(OTHER, True)
    assert code_of(lambda: verifications.create(to=OTHER, channel="sms")) == (21610, 400)


def test_sms_pumping_block_is_60410(serve: Callable[..., Served]) -> None:
    s = serve(OTP_PUMPING_MIN_SENDS="2", OTP_PUMPING_MIN_RATIO="0.5")
    sid = s.client.verify.v2.services.create(friendly_name="Acme").sid
    verifications = s.client.verify.v2.services(sid).verifications
    codes = []
    for i in range(10):
        try:
            verifications.create(to=f"+1415555{i:04d}", channel="sms")
        except TwilioRestException as exc:
            codes.append((exc.code, exc.status))
            break
    assert codes == [(60410, 403)]


def test_a_service_keeps_its_own_pending_verification(serve: Callable[..., Served]) -> None:
    s = serve()
    services = s.client.verify.v2.services
    one, two = services.create(friendly_name="One").sid, services.create(friendly_name="Two").sid
    first = services(one).verifications.create(to=MOBILE, channel="sms")
    code_one = s.code(MOBILE)
    second = services(two).verifications.create(to=MOBILE, channel="sms")
    assert second.sid != first.sid  # another service: a verification of its own, not a resend
    assert "Two" in s.bodies(MOBILE)[0] and "One" in s.bodies(MOBILE)[1]
    missing = twilio_error(lambda: services(two).verifications(first.sid).fetch())
    assert missing.code == 20404  # a SID of another service is not found here
    wrong_service = twilio_error(lambda: services(two).verification_checks.create(verification_sid=first.sid,
                                                                                  code=code_one))  # fmt: skip
    assert wrong_service.code == 20404
    assert services(one).verification_checks.create(to=MOBILE, code=code_one).status == "approved"
    # /v1 keeps the environment's own: a check by number there finds nothing pending
    v1 = s.app.test_client().post("/v1/verification-checks", json={"to": MOBILE, "code": code_one},
                                  headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
    assert v1.status_code == 404


def test_the_cli_creates_and_lists_services(serve: Callable[..., Served]) -> None:
    s = serve()
    runner = s.app.test_cli_runner()
    made = runner.invoke(args=["otp", "service", "create", "Acme", "--code-length", "8", "--psd2"])
    assert made.exit_code == 0, made.output
    sid = made.output.strip()
    fetched = s.client.verify.v2.services(sid).fetch()
    assert fetched.friendly_name == "Acme" and fetched.code_length == 8 and fetched.psd2_enabled is True
    listed = runner.invoke(args=["otp", "service", "list"])
    assert sid in listed.output and "psd2" in listed.output
    refused = runner.invoke(args=["otp", "service", "create", "x" * 31])
    assert refused.exit_code != 0 and "FriendlyName" in refused.output


def test_a_psd2_call_says_the_payment_and_the_service_brand(serve: Callable[..., Served]) -> None:
    s = serve()
    sid = s.client.verify.v2.services.create(friendly_name="Bank", psd2_enabled=True).sid
    s.client.verify.v2.services(sid).verifications.create(to=MOBILE, channel="call", amount="£12", payee="Shop & Co")
    sends = s.app.test_client().get("/dev/outbox").get_json()["sends"]
    script = " ".join(next(x["script"] for x in sends if x.get("channel") == "call"))
    assert "Bank" in script and "£12" in script and "Shop & Co" in script


def test_refusals_found_by_schemathesis_stay_refusals(serve: Callable[..., Served]) -> None:
    s = serve()
    sid = s.client.verify.v2.services.create(friendly_name="Acme").sid
    auth = (ACCOUNT, KEY)
    http = s.app.test_client()

    def post(path: str, **form: str) -> tuple[int, dict]:
        headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
        answer = http.post(path, data=form, headers=headers)
        return answer.status_code, answer.get_json()

    for url in ("https://\x1e\x1d:018781311", "https://[", "https://app.example.com:0/", "https://a b.example/"):
        status, body = post(f"/v2/Services/{sid}/Webhooks", FriendlyName="x", EventTypes="*", WebhookUrl=url)
        assert (status, body["code"]) == (400, 60200), url
    for form in ({"FriendlyName": "x", "CodeLength": "²"}, {"FriendlyName": "x", "CodeLength": "9" * 5000}):
        status, body = post("/v2/Services", **form)
        assert (status, body["code"]) == (400, 60200)
    status, body = post(f"/v2/Services/{sid}/RateLimits", UniqueName="ip2\n")
    assert (status, body["code"]) == (400, 60200)
    status, body = post(f"/v2/Services/{sid}/Verifications", To=MOBILE, Channel="sms", AppHash="FA+9qCX9VSu\n")
    assert (status, body["code"]) == (400, 60200)
    status, body = post(f"/v2/Services/{sid}/Verifications", To=MOBILE, Channel="sms", RateLimits='{"ip": true}')
    assert (status, body["code"]) == (400, 60200)
    # routing errors under /v2 come in Twilio's shape too
    wrong_method = http.delete("/v2/Services", headers={"Authorization": "Basic " + base64.b64encode(
        ":".join(auth).encode()).decode()})  # fmt: skip
    assert wrong_method.status_code == 405 and wrong_method.get_json()["code"] == 20004
    assert "GET" in wrong_method.headers["Allow"]
    unknown = http.get("/v2/Nope")
    assert unknown.status_code == 404 and set(unknown.get_json()) == {"code", "message", "more_info", "status"}


def test_a_deleted_service_takes_its_settings_with_it(serve: Callable[..., Served]) -> None:
    s = serve()
    services = s.client.verify.v2.services
    sid = services.create(friendly_name="Gone").sid
    started = services(sid).verifications.create(to=MOBILE, channel="sms")
    limit = services(sid).rate_limits.create(unique_name="ip")
    services(sid).rate_limits(limit.sid).buckets.create(max=1, interval=60)
    services(sid).webhooks.create(friendly_name="w", event_types=["*"], webhook_url="https://app.example.com/h")
    assert services(sid).delete() is True
    assert twilio_error(lambda: services(sid).verifications(started.sid).fetch()).code == 20404
    assert twilio_error(lambda: services(sid).verifications(started.sid).update(status="canceled")).code == 20404
    store = s.app.extensions["verification"].store
    assert all(store.doc_list(kind, sid) == [] for kind in ("ratelimit", "bucket", "webhook"))


def test_device_ip_is_counted_against_the_per_ip_limit(serve: Callable[..., Served]) -> None:
    s = serve(OTP_LIMIT_IP="1/600")
    verifications = s.client.verify.v2.services(s.client.verify.v2.services.create(friendly_name="Acme").sid)
    verifications = verifications.verifications
    assert verifications.create(to=MOBILE, channel="sms", device_ip="203.0.113.7").status == "pending"
    again = twilio_error(lambda: verifications.create(to=OTHER, channel="sms", device_ip="::ffff:203.0.113.7"))
    assert (again.code, again.status) == (20429, 429)  # the same address, IPv4-mapped: one counter
    assert verifications.create(to=OTHER, channel="sms", device_ip="203.0.113.8").status == "pending"
