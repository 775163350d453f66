"""What every bench script shares: the repo root, a private redis-server, the benchmarked app's settings.

Nothing here touches a Redis you already run: each server is started on a free loopback port of
its own, and only processes started here are stopped (by their own pid).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105 (a benchmark's own)
API_KEY = "bench-api-key-0123456789"
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
    "TWILIO_AUTH_TOKEN": "bench-twilio-auth-token-0123456",  # fake: nothing ever reaches Twilio
    "TWILIO_FROM": "+15005550006",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_settings(redis_port: int, http_port: int) -> dict[str, str]:
    """The benchmarked app's environment.

    SMS goes through the console provider (starts send nothing; it keeps one outbox entry per send,
    as in development). VOICE_PROVIDER=twilio with fake credentials loads the Twilio adapter, so
    /webhooks/twilio/... routes exist and check X-Twilio-Signature with the fake auth token against
    PUBLIC_BASE_URL; no start in the benchmark ever asks it to place a call. APP_ENV=test because
    production refuses the console provider. Every abuse limit is off so the load is not refused,
    and 100 wrong codes are allowed per verification so one can take many wrong checks.
    """
    return {
        "APP_ENV": "test",
        "SECRET_KEY": SECRET_KEY,
        "API_KEYS": API_KEY,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "OTP_PROVIDER": "console",
        "SMS_PROVIDER": "console",
        "VOICE_PROVIDER": "twilio",
        **TWILIO,
        "OTP_LIMIT_NUMBER": "off",
        "OTP_LIMIT_PREFIX": "off",
        "OTP_LIMIT_COUNTRY": "off",
        "OTP_LIMIT_IP": "off",
        "OTP_LIMIT_API_KEY": "off",
        "OTP_LIMIT_CHECKS": "off",
        "OTP_PUMPING_MIN_SENDS": "off",
        "OTP_MAX_CHECKS": "100",
    }


def clean_environ(extra: dict[str, str]) -> dict[str, str]:
    """The current environment without any app or gunicorn setting, plus `extra`."""
    prefixes = ("OTP_", "TWILIO_", "PLIVO_", "SIGNALWIRE_", "FLOWROUTE_", "SMS_PROVIDER", "VOICE_PROVIDER")
    drop = {"SECRET_KEY", "SECRET_KEY_FALLBACKS", "API_KEYS", "PUBLIC_BASE_URL", "REDIS_URL", "APP_ENV",
            "TRUST_PROXY", "DEMO_ENABLED", "PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(prefixes)}
    env.update(extra)
    return env


class RedisServer:
    """A redis-server of our own on a free port (no persistence), stopped by its pid."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (Debian: apt-get install -y redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.02)

    def client(self, **kwargs: object):  # -> redis.Redis
        import redis

        return redis.Redis(port=self.port, **kwargs)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5), counted after the name


def children(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn's workers), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


CLK_TCK = os.sysconf("SC_CLK_TCK")


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a process started with start_new_session=True, and its children, by its own pgid."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def quiet() -> None:
    """Keep the app's per-request INFO lines out of in-process measurements (create_app sets INFO)."""
    import logging

    logging.getLogger("telephony").setLevel(logging.WARNING)


def busy_ticks() -> tuple[int, int]:
    """(ticks every CPU spent busy, ticks stolen by the hypervisor), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def children_ticks() -> int:
    """CPU ticks of this process's waited-for children (wrk), for subtracting from the total."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((usage.ru_utime + usage.ru_stime) * CLK_TCK)
