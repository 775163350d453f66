"""The factory applies its settings, refuses bad ones with one clear line, and production is safe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import BASE_CONFIG, ROOT, TWILIO

from app import create_app
from telephony.config import gather, load_settings
from telephony.errors import ConfigError

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "production-secret-0123456789-abcdefgh",
    "API_KEYS": "k1-0123456789abcdef-0123456789abcdef",
    "PUBLIC_BASE_URL": "https://verify.example.com",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "OTP_PROVIDER": "twilio",
    **TWILIO,
}


def test_config_is_applied() -> None:
    app = create_app({**BASE_CONFIG, "OTP_LENGTH": "8", "OTP_BRAND": "Acme", "API_KEYS": "a, b"})
    settings = app.extensions["verification"].settings
    assert (settings.otp_length, settings.otp_brand, settings.api_keys) == (8, "Acme", ("a", "b"))
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024


def test_sources_rank_config_over_environment_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("OTP_BRAND=FromDotenv\nOTP_LENGTH=7\nOTP_TTL=300\n")
    monkeypatch.setenv("OTP_LENGTH", "9")
    monkeypatch.setenv("OTP_TTL", "120")
    raw = gather({"OTP_TTL": "60"})
    assert (raw["OTP_BRAND"], raw["OTP_LENGTH"], raw["OTP_TTL"]) == ("FromDotenv", "9", "60")


def test_production_is_the_default_outside_app_py() -> None:
    with pytest.raises(ConfigError) as info:
        create_app({})
    assert str(info.value).startswith("SECRET_KEY ")


def test_a_complete_production_config_loads() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.app_env == "production" and not settings.development and not settings.demo_enabled


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"API_KEYS": ""}, "API_KEYS"),
        ({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"OTP_PROVIDER": "console"}, "OTP_PROVIDER"),
        ({"SMS_PROVIDER": "twilio,console"}, "SMS_PROVIDER"),
        ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_FROM": "555"}, "TWILIO_FROM"),
        ({"OTP_LENGTH": "3"}, "OTP_LENGTH"),
        ({"OTP_LENGTH": "six"}, "OTP_LENGTH"),
        ({"OTP_TTL": "0"}, "OTP_TTL"),
        ({"OTP_TTL": "86401"}, "OTP_TTL"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"PUBLIC_BASE_URL": "verify.example.com"}, "PUBLIC_BASE_URL"),
        ({"VOICE_PROVIDER": "flowroute"}, "VOICE_PROVIDER"),
        (
            {
                "OTP_PROVIDER": "flowroute",
                "FLOWROUTE_ACCESS_KEY": "a",
                "FLOWROUTE_SECRET_KEY": "b",
                "FLOWROUTE_FROM": "+12065550100",
                "FLOWROUTE_WEBHOOK_SECRET": "c",
            },
            "VOICE_PROVIDER",
        ),
        ({"SMS_PROVIDER": "carrier-pigeon"}, "SMS_PROVIDER"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ],
)
def test_bad_settings_name_the_variable(change: dict, variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app({**PRODUCTION, **change})
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + " ")
    assert isinstance(info.value, ValueError)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    text = repr(load_settings(PRODUCTION))
    assert "production-secret" not in text and TWILIO["TWILIO_AUTH_TOKEN"] not in text


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTP_", "TWILIO_", "REDIS_", "API_", "SECRET_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.slow
def test_app_py_exits_with_one_line_naming_the_variable(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], env=_clean_env(APP_ENV="production"),
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()  # every bad setting, on one line
    assert line.startswith("configuration error: SECRET_KEY is required in production; API_KEYS ")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_gunicorn_exits_naming_the_variable(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "-b", "127.0.0.1:0", "app:create_app()"],
        env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SECRET_KEY is required in production" in result.stderr


def test_worker_command_fires_due_timers(clock) -> None:
    from telephony.store import MemoryStore

    app = create_app({**BASE_CONFIG, "OTP_FALLBACK_AFTER": "5"}, store=MemoryStore(clock=clock), clock=clock)
    client = app.test_client()
    client.post("/v1/verifications", json={"to": "+14155550100", "channel": "auto"})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["otp", "worker", "--once"]).output == "fired 0 timer(s), attempted 0 delivery(ies)\n"
    clock.advance(5)
    assert runner.invoke(args=["otp", "worker", "--once"]).output == "fired 1 timer(s), attempted 0 delivery(ies)\n"
    assert [s["channel"] for s in client.get("/dev/outbox").get_json()["sends"]] == ["call", "sms"]
    assert "Fire SMS-to-call fallback timers" in runner.invoke(args=["otp", "worker", "--help"]).output


@pytest.mark.slow
def test_flask_cli_exits_with_one_line_naming_the_variable(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", str(ROOT / "app.py"), "otp", "worker", "--once"],
        env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: configuration error: SECRET_KEY is required in production; API_KEYS ")
