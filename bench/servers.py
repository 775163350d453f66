"""The server models the benchmark compares, each started the same way on a free loopback port.

A model is a command line for a WSGI app target; `Served` starts it (its own process group, the
environment given), waits for `/healthz`, and stops it by its process group. The Procfile's `web:`
line is always one of the models, as written, so the table measures what deploys.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, children, stop_process_group

APP = "app:create_app()"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:webhooks.gunicorn_config"]


@dataclass(frozen=True)
class Model:
    name: str
    describe: str
    argv: Callable[[str, int], list[str]]  # (gunicorn-style app target, port) -> command


def procfile_argv() -> list[str]:
    for raw in (ROOT / "Procfile").read_text().splitlines():
        if raw.startswith("web:"):
            argv = shlex.split(raw.removeprefix("web:"))
            if argv[0] in ("gunicorn", "granian"):
                return [sys.executable, "-m", argv[0], *argv[1:]]
            return argv
    raise SystemExit("Procfile has no web: line")


def _procfile(target: str, port: int) -> list[str]:
    """The Procfile's line with its address replaced by a loopback port and its app by `target`."""
    argv = procfile_argv()
    if "granian" in argv[2]:
        bound = {"--host": "127.0.0.1", "--port": str(port)}
        argv = [bound.get(before, part) for before, part in zip(["", *argv], argv, strict=False)]
        return [*argv[:-1], _granian_target(target)]
    return [*argv[:-1], "--bind", f"127.0.0.1:{port}", target]


def _granian_target(target: str) -> str:
    """granian calls a factory named without its call (--factory); ours, with the worker hooks."""
    return "webhooks.serve:worker_app" if target == APP else target.removesuffix("()")


def _gunicorn(*options: str) -> Callable[[str, int], list[str]]:
    return lambda target, port: [*GUNICORN, *options, "--bind", f"127.0.0.1:{port}", target]


def _granian(workers: int, threads: int) -> Callable[[str, int], list[str]]:
    def argv(target: str, port: int) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "--workers", str(workers),
                "--blocking-threads", str(threads), "--backpressure", str(threads * 2), "--log-level", "warning",
                "--host", "127.0.0.1", "--port", str(port), _granian_target(target)]  # fmt: skip

    return argv


MODELS = {
    "procfile": Model("procfile", "the Procfile's web: line as written", _procfile),
    "sync-4": Model("sync-4", "gunicorn, 4 sync workers", _gunicorn("--worker-class", "sync", "--workers", "4")),
    "gthread-4x32": Model(
        "gthread-4x32",
        "gunicorn, 4 gthread workers x 32 threads",
        _gunicorn("--worker-class", "gthread", "--workers", "4", "--threads", "32"),
    ),
    "gthread-2x64": Model(
        "gthread-2x64",
        "gunicorn, 2 gthread workers x 64 threads",
        _gunicorn("--worker-class", "gthread", "--workers", "2", "--threads", "64"),
    ),
    "gevent-4": Model(
        "gevent-4",
        "gunicorn, 4 gevent workers (1000 connections each)",
        _gunicorn("--worker-class", "gevent", "--workers", "4", "--worker-connections", "1000"),
    ),
    "granian-2x64": Model("granian-2x64", "granian WSGI, 2 workers x 64 blocking threads", _granian(2, 64)),
    "granian-4x32": Model("granian-4x32", "granian WSGI, 4 workers x 32 blocking threads", _granian(4, 32)),
}


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it (granian's workers are grandchildren of its launcher)."""
    found, todo = [pid], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Served:
    """One server model serving one app target, started and stopped here."""

    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 40) -> Served:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{shlex.join(self.command)} did not start; see {self.log}")
            time.sleep(0.1)
        time.sleep(1.0)  # every worker booted
        return self

    def pids(self) -> list[int]:
        assert self.process is not None
        return descendants(self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
