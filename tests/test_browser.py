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
from webhooks.cli import start_worker_thread

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
    # Every test here starts from this one address: the per-IP limit would refuse the later ones.
    app = create_app({**BASE_CONFIG, "PUBLIC_BASE_URL": base, "OTP_LIMIT_IP": "off"}, store=MemoryStore())
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    """A server whose prefix limit allows one start, so a second number nearby is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app({**BASE_CONFIG, "PUBLIC_BASE_URL": base, "OTP_LIMIT_PREFIX": "1/3600"}, store=MemoryStore())
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


@pytest.fixture(scope="module")
def dev_url() -> Iterator[str]:
    """As `python app.py` runs: development, no WEBHOOK_URL (events go to its own /dev/webhook),
    and the worker in a thread of the web process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    config = {**BASE_CONFIG, "APP_ENV": "development", "PUBLIC_BASE_URL": base, "PORT": str(port)}
    app = create_app(config, store=MemoryStore())
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = start_worker_thread(app, interval=0.2)
    yield base
    stop.set()
    server.shutdown()


SIZES = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 360, "height": 740}}


@pytest.fixture(params=sorted(SIZES))
def page(request: pytest.FixtureRequest, browser):
    context = browser.new_context(viewport=SIZES[request.param], is_mobile=request.param == "mobile")
    page = context.new_page()
    page.set_default_timeout(5000)
    page.size_name = request.param
    yield page
    context.close()


def keep(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{page.size_name}.png"), full_page=True)


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
    assert page.inner_text("h1") == "Your code was sent"
    page.goto(base_url + "/")
    page.fill("#vnumber", "+14155550177")
    page.fill("#auth_code", "12345x")
    page.click("#validate-button")
    assert page.inner_text("h1") == "Forbidden"
    context.close()


def test_artifacts_folder_is_ignored_by_git() -> None:
    assert "test-artifacts/" in Path(ROOT / ".gitignore").read_text().splitlines()


def test_the_page_says_what_it_is(page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert "phone verification" in page.inner_text("header h1").lower()
    assert "demo" in page.inner_text("header p").lower()
    keep(page, "demo-intro")


def test_the_verification_id_stays_inside_its_panel(page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.fill("#number", "+14155550131" if page.size_name == "desktop" else "+14155550132")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent")
    panel = page.locator("#status-panel").bounding_box()
    code = page.locator("#verification-id").bounding_box()
    keep(page, "demo-id")
    assert code["x"] + code["width"] <= panel["x"] + panel["width"] + 0.5
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_refused_start_clears_the_previous_verification_and_says_how_long_to_wait(page, limited_url: str) -> None:
    page.goto(limited_url + "/")
    page.fill("#number", "+14155551001" if page.size_name == "desktop" else "+14155562001")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent")
    assert page.is_visible("#status-panel")
    page.fill("#number", "+14155551002" if page.size_name == "desktop" else "+14155562002")
    page.click("#request-button")
    page.wait_for_selector("text=Too many codes sent")
    message = page.inner_text("#message")
    keep(page, "demo-refused")
    assert re.search(r"\b(in|after) \d+ (seconds?|minutes?|hours?)\b", message), message
    assert not page.is_visible("#status-panel")


def test_the_code_box_names_the_channel_the_code_comes_by(page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert "SMS" in page.get_attribute("#auth_code", "placeholder")
    page.select_option("#channel", "call")
    placeholder = page.get_attribute("#auth_code", "placeholder")
    assert "call" in placeholder and "SMS" not in placeholder
    page.fill("#number", "+14155550141" if page.size_name == "desktop" else "+14155550142")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent by call")
    assert "SMS" not in page.get_attribute("#auth_code", "placeholder")
    keep(page, "demo-call")


def test_without_javascript_a_refused_code_leads_back(browser, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False, viewport=SIZES["mobile"])
    page = context.new_page()
    page.goto(base_url + "/")
    page.fill("#vnumber", "+14155550178")
    page.fill("#auth_code", "123456")
    with page.expect_response("**/validate-auth") as answer:
        page.click("#validate-button")
    assert answer.value.status == 403
    assert "Forbidden" in page.inner_text("h1") and page.title()
    page.size_name = "nojs"
    keep(page, "demo-forbidden")
    page.click("text=Back to the demo")
    assert page.url == base_url + "/"
    context.close()


def test_polling_stops_once_the_verification_is_decided(page, base_url: str) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/demo/verifications/" in r.url else None)
    page.goto(base_url + "/")
    page.fill("#number", "+14155550151" if page.size_name == "desktop" else "+14155550152")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent")
    code = re.search(r"\b(\d{6})\b", page.wait_for_selector(".outbox-text").inner_text()).group(1)
    page.wait_for_timeout(2000)  # more than the 1.5 s between polls
    assert polls  # while the verification is pending, the page does poll: the stop below means something
    page.fill("#auth_code", code)
    page.click("#validate-button")
    page.wait_for_selector("text=Success! The number is verified.")
    page.wait_for_timeout(300)  # a poll already under way may land
    polls.clear()
    page.wait_for_timeout(2000)  # more than the 1.5 s between polls
    assert polls == []


def test_the_demo_shows_the_signed_event_of_the_verification(page, dev_url: str) -> None:
    page.goto(dev_url + "/")
    page.fill("#number", "+14155550161" if page.size_name == "desktop" else "+14155550162")
    page.click("#request-button")
    page.wait_for_selector("text=Your code was sent")
    code = re.search(r"\b(\d{6})\b", page.wait_for_selector(".outbox-text").inner_text()).group(1)
    assert "No event for this verification yet" in page.inner_text("#events")
    page.fill("#auth_code", code)
    page.click("#validate-button")
    page.wait_for_selector("text=Success! The number is verified.")
    event = page.wait_for_selector(".event-item")  # delivered by the worker thread to /dev/webhook
    text = event.inner_text()
    assert "verification.approved" in text and "signature valid" in text
    assert "webhook-id: evt_" in text and "webhook-signature: v1," in text
    assert '"status": "approved"' in text and code not in text.replace(page.inner_text("#verification-id"), "")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # the long signature wraps inside the panel
    keep(page, "demo-event")


@pytest.mark.parametrize(("channel", "answer", "outcome"), [("sms", "approve", "approved"), ("call", "deny", "denied")])
def test_approve_a_sign_in_by_reply_or_keypress(page, base_url: str, channel: str, answer: str, outcome: str) -> None:
    page.goto(base_url + "/")
    page.fill("#anumber", f"+1415555{'02' if channel == 'sms' else '03'}{'1' if page.size_name == 'desktop' else '2'}1")
    page.select_option("#achannel", channel)
    page.click("#approval-button")
    page.wait_for_selector("#approval-status:text('pending')")
    reference = re.search(r"reference (\d{4})", page.inner_text("#approval-via")).group(1)
    shown = page.wait_for_selector(".outbox-item:first-child .outbox-text").inner_text()
    if channel == "sms":
        assert f"YES {reference}" in shown  # the text as the person would read it
    else:
        assert "Press 1 to approve, or 2 to deny." in shown  # the call as the person would hear it
    page.click(f"#{answer}-button")
    page.wait_for_selector(f"#approval-status:text('{outcome}')")
    heard = page.inner_text("#approval-heard")
    assert (f"YES {reference}" in heard and "approved. Thank you" in heard) if channel == "sms" else "(presses 2)" in heard
    assert f"answered by {channel}" in page.inner_text("#approval-via")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]
    keep(page, f"demo-approval-{channel}")

def test_the_demo_enrols_an_authenticator_app_and_takes_each_code_once(page, base_url: str) -> None:
    import pyotp

    page.goto(base_url + "/")
    page.fill("#totp-identity", f"demo-user-{page.size_name}")
    page.fill("#totp-name", "alice@example.com")
    page.click("#totp-enrol-button")
    secret = page.wait_for_selector("#totp-secret:not(:empty)").inner_text()
    page.wait_for_function("() => document.getElementById('totp-qr').naturalWidth > 0")  # the QR code is drawn
    assert page.inner_text("#totp-status") == "unverified"
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("#totp-verify-button")
    page.wait_for_selector("text=Right code: the app is verified.")
    assert page.inner_text("#totp-status") == "verified"
    page.click("#totp-check-button")  # the same code once more
    page.wait_for_selector("text=That code is wrong, or was used already")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    keep(page, "demo-totp")
