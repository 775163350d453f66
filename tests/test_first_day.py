"""A newcomer's first day (issue 12): the README's quick start as written, numbers without `+`,
the dev CLI's dead ends, an ngrok URL with an open /v1, every config error at once, CI on a newer Python."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import BASE_CONFIG
from flask import Flask

from app import create_app
from telephony.errors import ConfigError
from telephony.models import ID_PATTERN
from telephony.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
LA_NATIONAL = "3235550123"  # a Los Angeles number without +1: valid in Belgium as +32 3235550123


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _code(text: str) -> str:
    return re.findall(r"\b(\d{6})\b", text)[-1]


# --- item 3: E.164 only, unless OTP_DEFAULT_REGION --------------------------------------------


def test_a_number_without_its_plus_is_refused_not_guessed_into_another_country() -> None:
    client = create_app(BASE_CONFIG, store=MemoryStore()).test_client()
    answer = client.post("/v1/verifications", json={"to": LA_NATIONAL})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "invalid_phone_number"
    assert "+" in answer.get_json()["error"]["message"]
    assert client.post("/request-auth", data={"number": LA_NATIONAL}).status_code == 400
    assert client.post("/v1/verifications", json={"to": "+1 (323) 555-0123"}).status_code == 201


def test_default_region_admits_its_national_numbers() -> None:
    client = create_app({**BASE_CONFIG, "OTP_DEFAULT_REGION": "us"}, store=MemoryStore()).test_client()
    answer = client.post("/v1/verifications", json={"to": LA_NATIONAL})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["to"] == "+13235550123"
    assert client.post("/v1/verifications", json={"to": "+33 6 12 34 56 78"}).get_json()["to"] == "+33612345678"
    with pytest.raises(ConfigError) as error:
        create_app({**BASE_CONFIG, "OTP_DEFAULT_REGION": "XX"}, store=MemoryStore())
    assert error.value.variable == "OTP_DEFAULT_REGION"


def test_carrier_numbers_without_plus_are_still_read_as_international() -> None:
    from telephony.phone import to_e164

    assert to_e164("14155550100") == "+14155550100"  # Plivo and Flowroute drop the +


# --- items 6 and 7: the quick start as written, the dev CLI --------------------------------------


class Reader:
    """Collects a subprocess's output from both streams as it comes, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self._lock = threading.Lock()
        for stream in (process.stdout, process.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: io.TextIOBase) -> None:
        for chunk in iter(lambda: stream.read(1), ""):
            with self._lock:
                self.text += chunk

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.text)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared in:\n{self.text}")


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The repository's tracked files (plus this checkout's working copies), as a clone has them."""
    clone = tmp_path / "clone"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in listed.splitlines():
        source = ROOT / name
        if source.is_file() and not name.startswith(("bench/", "tests/", "test-artifacts/")):
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def _shell_env(**extra: str) -> dict[str, str]:
    """The test's own interpreter first on PATH, so `pip`, `python` and `flask` are the ones under test."""
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "PORT", "REDIS_URL", "FLASK_APP")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _quick_start_commands() -> list[str]:
    section = _section("Quick start")
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    inline = re.findall(r"`((?:flask|python|pip) [^`]+)`", section)
    return commands + inline


@pytest.mark.slow
def test_every_quick_start_command_works_as_written_on_a_fresh_clone(fresh_clone: Path) -> None:
    commands = _quick_start_commands()
    # The test drives each command it knows; a new one in the README must be taught here.
    assert commands == ["pip install -r requirements.txt && python app.py", "flask --app app otp try"]
    port = _free_port()
    server = subprocess.Popen(commands[0], shell=True, cwd=fresh_clone, env=_shell_env(PORT=str(port)),  # noqa: S602 - the README's command line, as a shell runs it
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        output = Reader(server)
        output.wait_for(rf"Running on http://127\.0\.0\.1:{port}", timeout=60)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(base + "/", timeout=5).status_code == 200
        sent = requests.post(base + "/request-auth", data={"number": "+14155550100"}, timeout=5)
        assert sent.text == "Your code was sent"
        code = _code(requests.get(base + "/dev/outbox", timeout=5).json()["sends"][0]["body"])
        checked = requests.post(base + "/validate-auth", data={"number": "+14155550100", "auth_code": code}, timeout=5)
        assert checked.text == "Success!"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)

    cli = subprocess.Popen(commands[1], shell=True, cwd=fresh_clone, env=_shell_env(), stdin=subprocess.PIPE,  # noqa: S602
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        output = Reader(cli)
        output.wait_for("Phone number")
        cli.stdin.write("+14155550100\n")
        cli.stdin.flush()
        code = _code(output.wait_for(r"console\.sms.*").group(0))
        output.wait_for("Code: ")
        cli.stdin.write(code + "\n")
        cli.stdin.close()
        assert cli.wait(20) == 0, output.text
        output.wait_for("Verified!")
    finally:
        cli.kill()
        cli.wait()


@pytest.fixture
def app() -> Flask:
    return create_app(BASE_CONFIG, store=MemoryStore())


def _typed(*answers: Callable[[], str]) -> io.BufferedReader:
    class Typist(io.RawIOBase):
        def __init__(self) -> None:
            self._answers = iter(answers)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            line = next(self._answers, lambda: "")().encode()
            buffer[: len(line)] = line
            return len(line)

    return io.BufferedReader(Typist())


def _outbox_code(app: Flask) -> str:
    return _code(app.extensions["verification"].store.outbox_list()[0]["body"])


def test_try_asks_again_after_an_invalid_number(app: Flask) -> None:
    answers = _typed(lambda: LA_NATIONAL + "\n", lambda: "+14155550100\n", lambda: _outbox_code(app) + "\n")
    result = app.test_cli_runner().invoke(args=["otp", "try"], input=answers)
    assert result.exit_code == 0, result.output
    assert result.output.count("Phone number") == 2
    assert "Code sent by sms to +14155550100" in result.output
    assert result.output.rstrip().endswith("Verified!")


def test_try_says_which_national_numbers_it_takes() -> None:
    app = create_app({**BASE_CONFIG, "OTP_DEFAULT_REGION": "US"}, store=MemoryStore())
    answers = _typed(lambda: LA_NATIONAL + "\n", lambda: _outbox_code(app) + "\n")
    result = app.test_cli_runner().invoke(args=["otp", "try"], input=answers)
    assert result.exit_code == 0, result.output
    assert "US" in result.output.splitlines()[0]
    assert "Code sent by sms to +13235550123" in result.output


def test_try_by_call_shows_what_the_caller_hears(app: Flask) -> None:
    def answer_the_call() -> str:
        # As the phone would: fetch the answer URL the console provider was given, read the digits.
        url = app.extensions["verification"].store.outbox_list()[0]["answer_url"]
        markup = app.test_client().post(url.removeprefix(BASE_CONFIG["PUBLIC_BASE_URL"]), data={"CallSid": "CA1"})
        digits = re.findall(r"<Say[^>]*>(\d)</Say>", markup.text)
        return "".join(digits[: len(digits) // 2]) + "\n"

    result = app.test_cli_runner().invoke(args=["otp", "try", "--channel", "call"],
                                          input=_typed(lambda: "+14155550100\n", answer_the_call))  # fmt: skip
    assert "Code sent by call" in result.output
    assert re.search(r"verification code is:\W*(\d\W+){6}", result.output), result.output
    assert result.output.rstrip().endswith("Verified!"), result.output


def test_simulate_without_redis_says_what_it_needs(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["otp", "simulate", "receipt", "vf_00000000" + "A" * 22])
    assert result.exit_code not in (0, None)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "REDIS_URL" in result.output and "SECRET_KEY" in result.output, result.output
    assert "Traceback" not in result.output


# --- item 8: an ngrok URL never gets an open /v1 -----------------------------------------------


def test_development_on_a_public_url_refuses_to_serve_an_open_api() -> None:
    public = {"APP_ENV": "development", "PUBLIC_BASE_URL": "https://abc123.ngrok-free.app"}
    with pytest.raises(ConfigError) as error:
        create_app(public, store=MemoryStore())
    assert "API_KEYS" in error.value.variables
    assert "PUBLIC_BASE_URL" in str(error.value)
    key = "k" * 32
    client = create_app({**public, "API_KEYS": key}, store=MemoryStore()).test_client()
    assert client.post("/v1/verifications", json={"to": "+14155550100"}).status_code == 401
    assert create_app({"APP_ENV": "development", "PUBLIC_BASE_URL": "http://localhost:5000"}, store=MemoryStore())


def test_the_ngrok_walkthrough_sets_api_keys_and_trust_proxy() -> None:
    walkthrough = _section("Trying it with a real phone")
    assert re.search(r"^\s*API_KEYS=", walkthrough, re.M)
    assert re.search(r"^\s*TRUST_PROXY=1\b", walkthrough, re.M)
    assert "X-Forwarded-For" in walkthrough  # and says why


# --- item 9: every config error in one message -------------------------------------------------

BAD = {"APP_ENV": "production", "OTP_LENGTH": "three", "OTP_TTL": "0", "OTP_PROVIDER": "twilio",
       "PUBLIC_BASE_URL": "ftp://x", "OTP_BRAND": "x" * 40}  # fmt: skip
NAMED = ("OTP_LENGTH", "OTP_TTL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "PUBLIC_BASE_URL",
         "OTP_BRAND", "SECRET_KEY", "API_KEYS", "REDIS_URL")  # fmt: skip


def test_every_bad_or_missing_setting_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        create_app(BAD)
    assert set(error.value.variables) == set(NAMED), error.value.variables
    assert error.value.variable == error.value.variables[0]
    message = str(error.value)
    assert "\n" not in message
    for name in NAMED:
        assert name in message


@pytest.mark.slow
def test_gunicorn_prints_every_config_error_and_exits_without_a_traceback(tmp_path: Path) -> None:
    env = {**_shell_env(), **BAD}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "-b", f"127.0.0.1:{_free_port()}",
                             "app:create_app()"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for name in NAMED:
        assert name in result.stderr, result.stderr


# --- item 12: small but real -------------------------------------------------------------------


def test_the_readme_example_ids_have_the_real_id_format() -> None:
    ids = re.findall(r"\bvf_[A-Za-z0-9_-]+", README)
    assert ids
    for found in ids:
        assert ID_PATTERN.match(found), found


def test_files_cited_in_the_source_exist() -> None:
    for source in [*ROOT.glob("telephony/**/*.py"), *ROOT.glob("webhooks/**/*.py"), ROOT / "app.py"]:
        for cited in re.findall(r"\b([\w./-]+\.md)\b", source.read_text()):
            assert (ROOT / cited).is_file() or (ROOT / "docs" / cited).is_file(), f"{source.name} cites {cited}"


def test_the_twilio_section_warns_about_twilios_own_opt_out_handling() -> None:
    twilio = _section("Trying it with a real phone") + _section("Providers")
    assert "Advanced Opt-Out" in twilio


# --- item 13: CI on a newer Python -------------------------------------------------------------


def test_ci_finds_a_newer_python_or_says_why_not() -> None:
    script = ROOT / ".ci" / "newer-python"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=180)
    assert result.returncode in (0, 3), result.stderr
    if result.returncode == 3:  # none within reach: it says why, and .ci/run goes on without it
        assert result.stderr.strip()
        return
    interpreter = result.stdout.strip()
    version = subprocess.run([interpreter, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    base = subprocess.run(["python3", "-c", "import sys; print(*sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert tuple(map(int, version)) > tuple(map(int, base))  # newer than the whole suite's python3
    declared = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert declared and tuple(map(int, declared.groups())) <= sys.version_info[:2]
    assert "newer-python" in (ROOT / ".ci" / "run").read_text()
