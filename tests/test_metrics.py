"""Prometheus metrics: counters follow the domain, and several gunicorn workers add up."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import BASE_URL, ROOT, TWILIO, signed_post
from flask.testing import FlaskClient

NUMBER = "+14155550100"


def value(text: str, name: str, **labels: str) -> float:
    """A sample's value from the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_counters_follow_the_flow(make_app, twilio_api) -> None:
    client = make_app(OTP_PROVIDER="twilio", **TWILIO).test_client()
    before = scrape(client)
    v = client.post("/v1/verifications", json={"to": NUMBER, "channel": "auto"}).get_json()
    url = f"{BASE_URL}/webhooks/twilio/status/message/{v['id']}?a=0"
    signed_post(client, url, {"MessageSid": v["sends"][0]["provider_id"], "MessageStatus": "undelivered"})
    client.post(url.removeprefix(BASE_URL), data={"MessageSid": "x", "MessageStatus": "sent"})  # unsigned
    client.post(f"/v1/verifications/{v['id']}/check", json={"code": "0000000"})
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("otp_sends_total", channel="sms", provider="twilio", status="accepted") == 1
    assert delta("otp_sends_total", channel="sms", provider="twilio", status="undelivered") == 1
    assert delta("otp_sends_total", channel="call", provider="twilio", status="accepted") == 1
    assert delta("otp_fallbacks_total", trigger="Receipt") == 1
    assert delta("otp_webhook_signatures_rejected_total", provider="twilio") == 1
    assert delta("otp_checks_total", outcome="wrong") == 1
    assert delta("otp_request_duration_seconds_count", endpoint="/v1/verifications", method="POST", status="201") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_several_gunicorn_workers_add_up(tmp_path, redis_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "APP_ENV": "test", "SECRET_KEY": "metrics-secret-0123456789", "REDIS_URL": redis_url,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "WEB_CONCURRENCY": "3", "WEB_THREADS": "2", "OTP_LIMIT_IP": "off", "OTP_LIMIT_NUMBER": "off",
           "OTP_LIMIT_PREFIX": "off", "OTP_PUMPING_MIN_SENDS": "off"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:webhooks.gunicorn_config", "-b", f"127.0.0.1:{port}",
         "app:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        sent = 0
        while sent < 30 or len(list(tmp_path.glob("counter_*.db"))) < 2:  # until two workers have counted
            assert sent < 300, "every request reached the same worker"
            body = f'{{"to": "+1415555{sent:04d}"}}'.encode()
            request = urllib.request.Request(f"{base}/v1/verifications", body, {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5).close()
            sent += 1
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert value(text, "otp_sends_total", channel="sms", provider="console", status="accepted") == sent
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)


def test_a_worker_freezes_the_loaded_app_out_of_the_collectors_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gc

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # importing the config must not make one
    from webhooks import gunicorn_config

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    try:
        gunicorn_config.post_worker_init(object())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
