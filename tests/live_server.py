"""The real app under gunicorn (the Procfile's sync workers) and a raw HTTP client for it.

A helper module, not a conftest: a second conftest.py would shadow `from conftest import ...`.
The client writes requests byte for byte (chunked bodies, raw non-ASCII in the query), which
neither urllib nor the Flask test client can.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Gunicorn:
    """One gunicorn serving `app:create_app()` on a free port, its log (stdout and stderr) in a file."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.port = _free_port()
        self.log = workdir / "gunicorn.log"
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(workdir), **env}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:webhooks.gunicorn_config", "--worker-class", "sync",
                 "-b", f"127.0.0.1:{self.port}", "app:create_app()"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while self.request("GET", "/healthz").status != 200:
            assert time.monotonic() < deadline, f"gunicorn did not start:\n{self.log.read_text()}"
            time.sleep(0.1)

    def request(
        self, method: str, target: str | bytes, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
        chunked: bool = False,
    ) -> Reply:  # fmt: skip
        """One request on its own connection; `target` is sent as given (bytes: not even encoded)."""
        raw_target = target if isinstance(target, bytes) else target.encode()
        lines = [method.encode() + b" " + raw_target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
        lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
        if chunked:
            lines.append(b"Transfer-Encoding: chunked")
            pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
            payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        else:
            lines.append(b"Content-Length: %d" % len(body))
            payload = body
        received = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
                while chunk := sock.recv(65536):
                    received += chunk
        except ConnectionError:
            if not received:
                return Reply(0, b"")  # not up yet, or it hung up before answering
        head, _, content = received.partition(b"\r\n\r\n")
        return Reply(int(head.split(b" ", 2)[1]), _dechunked(content) if b"chunked" in head.lower() else content)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def _dechunked(content: bytes) -> bytes:
    out = b""
    while content:
        size, _, rest = content.partition(b"\r\n")
        length = int(size.split(b";")[0], 16)
        if length == 0:
            break
        out, content = out + rest[:length], rest[length + 2 :]
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
