"""/v2 through the second official client, twilio-node: tests/node/verify_flow.mjs runs the Verify
flow against a real HTTP server on a free port, served as in test_twilio_verify_v2 (memory store).

Needs node and `npm ci --prefix tests/node` (twilio pinned in tests/node/package.json). Without them
the test is skipped, unless REQUIRE_NODE_CLIENT=1 (CI sets it) makes their absence a failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from conftest import BASE_CONFIG, LIMITS_OFF, ROOT
from test_twilio_verify_v2 import ACCOUNT, KEY
from werkzeug.serving import make_server

from app import create_app
from telephony.store import MemoryStore

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "verify_flow.mjs"
STEPS = ["create service", "list services", "start", "read code", "wrong check", "repeat start", "fetch",
         "right check", "check after approval", "invalid To", "whatsapp channel"]  # fmt: skip


@pytest.fixture
def node() -> str:
    """The node binary, once twilio-node is installed under tests/node."""
    path = shutil.which("node")
    if path is None:
        missing = "node is not on PATH"
    elif not (NODE_DIR / "node_modules" / "twilio" / "package.json").is_file():
        missing = "tests/node/node_modules/twilio is missing (run: npm ci --prefix tests/node)"
    else:
        return path
    if os.environ.get("REQUIRE_NODE_CLIENT") == "1":
        pytest.fail(f"REQUIRE_NODE_CLIENT=1 but {missing}")
    pytest.skip(f"twilio-node client test: {missing}")


@pytest.fixture
def base_url() -> Iterator[str]:
    """The app with the /v2 test configuration, served threaded on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    config = {**BASE_CONFIG, **LIMITS_OFF, "PUBLIC_BASE_URL": base, "API_KEYS": KEY, "ACCOUNT_SID": ACCOUNT,
              "OTP_RESEND_COOLDOWN": "0"}  # fmt: skip
    server = make_server("127.0.0.1", port, create_app(config, store=MemoryStore()), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


@pytest.mark.slow
def test_the_verify_flow_through_twilio_node(node: str, base_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_EDGE", "TWILIO_REGION")}
    result = subprocess.run(
        [node, str(SCRIPT), base_url, ACCOUNT, KEY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    said = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, said
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True, said
    assert [step["step"] for step in report["steps"]] == STEPS, said
