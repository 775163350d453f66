"""The demo page in a real browser: Playwright driving Debian's chromium (installed by .ci/run)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BASE_CONFIG, ROOT
from werkzeug.serving import make_server

from app import create_app
from telephony.store import MemoryStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
NUMBER = "+14155550100"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (bash .ci/run installs it)")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app({**BASE_CONFIG, "PUBLIC_BASE_URL": base}, store=MemoryStore())
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


def test_full_flow_with_live_status_and_outbox(browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + "/")
    page.fill("#number", "+1 415 555 0100")
    page.select_option("#channel", "sms")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent by sms to +14155550100.")
    assert page.inner_text("#status") == "pending"
    sms = page.wait_for_selector(".outbox-text").inner_text()
    code = re.search(r"\b(\d{6})\b", sms).group(1)
    page.wait_for_function("document.querySelector('#sends td:nth-child(3)').textContent === 'queued'")
    page.fill("#auth_code", "000000" if code != "000000" else "111111")
    page.click("#validate-button")
    page.wait_for_selector("text=That code is wrong: 4 tries left.")
    page.fill("#auth_code", code)
    page.click("#validate-button")
    page.wait_for_selector("text=Success! The number is verified.")
    assert page.inner_text("#status") == "approved" and page.inner_text("#checks-left") == "4"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-flow.png"), full_page=True)
    assert (ARTIFACTS / "demo-flow.png").stat().st_size > 10_000
    page.close()


def test_the_outbox_shows_the_call_script(browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + "/")
    page.fill("#number", "+14155550123")
    page.select_option("#channel", "call")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent by call")
    script = page.wait_for_selector(".outbox-item:first-child .outbox-text").inner_text()
    assert "Your verification code is:" in script and "Press 1 to hear the code again." in script
    assert len(re.findall(r"\b\d\b", script.split("Press")[0])) == 12  # the digits, one at a time, twice
    page.close()


def test_the_plain_forms_work_without_javascript(browser, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base_url + "/")
    page.fill("#number", "+14155550177")
    page.click("#request-button")
    assert page.inner_text("body") == "Your code was sent"
    page.goto(base_url + "/")
    page.fill("#vnumber", "+14155550177")
    page.fill("#auth_code", "12345x")
    page.click("#validate-button")
    assert page.inner_text("body") == "Forbidden"
    context.close()


def test_artifacts_folder_is_ignored_by_git() -> None:
    assert "test-artifacts/" in Path(ROOT / ".gitignore").read_text().splitlines()
