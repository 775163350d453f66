"""The Procfile's processes as an operator runs them: production settings, gunicorn, the worker."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, TWILIO
from fake_twilio import fake_twilio

API_KEY = "deploy-test-api-key-0123456789abcdefghij"
NUMBER = "+14155550142"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if re.match(r"^\w+: ", line))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(port: int, redis_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """Settings production accepts, with this test's own temporary directory (TMPDIR)."""
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "prometheus_"))}
    return {
        **env, "APP_ENV": "production", "PORT": str(port), "TMPDIR": str(tmp),
        "SECRET_KEY": "deploy-test-secret-key-0123456789abcdefgh", "API_KEYS": API_KEY,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "REDIS_URL": redis_url,
        "OTP_PROVIDER": "twilio", **TWILIO, "TWILIO_AUTH_TOKEN": "deploy-test-twilio-auth-token-0123456789",
        "OTP_FALLBACK_AFTER": "5", **extra,
    }  # fmt: skip


@contextmanager
def running(command: str, env: dict[str, str], cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """A Procfile line, through a shell as Procfile runners start it; stopped with its children."""
    process = subprocess.Popen(command, shell=True,  # noqa: S602 (a Procfile line is a shell command)
                               cwd=cwd, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        # The shell is gone; every process it started must be too (the server's workers included),
        # within the Procfile's own kill timeout: nothing may outlive a stop.
        deadline = time.monotonic() + 15
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"processes of `{command}` outlived SIGTERM by 15 s")


def _group_alive(pgid: int) -> bool:
    """Whether a process of this group is still running (zombies waiting for their parent aside)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def wait_until_up(base: str, process: subprocess.Popen, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{base}{path}", timeout=1).close()
            return
        except (OSError, urllib.error.HTTPError):
            if process.poll() is not None:
                pytest.fail(f"the server stopped: {process.stderr.read().decode() if process.stderr else ''}")
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def total(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    found = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            found += float(match.group(2))
    return found


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def start_verification(base: str, channel: str) -> dict:
    request = urllib.request.Request(
        f"{base}/v1/verifications", json.dumps({"to": NUMBER, "channel": channel}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.mark.slow
def test_the_procfile_web_and_worker_count_into_one_metrics_page(tmp_path: Path, redis_url: str) -> None:
    lines = procfile()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with fake_twilio(tmp_path) as twilio:
        env = production_env(port, redis_url, tmp_path / "tmp", **twilio.env)
        with running(lines["web"], env) as web, running(lines["worker"], env):
            wait_until_up(base, web)
            start_verification(base, "auto")
            deadline = time.monotonic() + 15
            while not any(path.endswith("/Calls.json") for path in twilio.paths()):
                assert time.monotonic() < deadline, f"the worker placed no fallback call: {twilio.paths()}"
                time.sleep(0.2)
            deadline = time.monotonic() + 5
            while True:  # the worker's counter lands just after its call
                text = get(f"{base}/metrics")
                if total(text, "otp_fallbacks_total") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    assert total(text, "otp_sends_total", channel="sms", provider="twilio", status="accepted") == 1  # web
    assert total(text, "otp_fallbacks_total") == 1  # the worker's
    assert total(text, "otp_sends_total", channel="call", provider="twilio", status="accepted") == 1


@pytest.mark.slow
def test_gunicorn_starts_leave_no_metrics_directory_each(tmp_path: Path, redis_url: str) -> None:
    tmp = tmp_path / "tmp"
    for _ in range(2):
        port = free_port()
        with running(procfile()["web"], production_env(port, redis_url, tmp)) as web:
            wait_until_up(f"http://127.0.0.1:{port}", web)
    assert len(list(tmp.glob("otp-metrics-*"))) <= 1, sorted(p.name for p in tmp.iterdir())
