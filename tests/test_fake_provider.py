"""bench/fake_provider.py: the real Twilio and Plivo SDKs get their answers from it, after its delay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import plivo
import pytest
import requests
from twilio.rest import Client

from bench.fake_provider import FakeProvider
from telephony.providers import http

DELAY = 0.05
TO, FROM = "+14155550100", "+15005550006"
BODY = "Your code is 123456"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(delay=DELAY, tail=0) as provider:
        yield provider
    assert provider.process is None


def twilio_client(fake: FakeProvider) -> Client:
    client = Client("AC" + "1" * 32, "twilio-test-auth-token")
    client.api.base_url = fake.url
    return client


def plivo_client(fake: FakeProvider) -> plivo.RestClient:
    client = plivo.RestClient("MA" + "A" * 18, "plivo-test-auth-token")
    http.mount(client.session, fake.url, "https://api.plivo.com")  # as PLIVO_API_URL does
    return client


def timed(send: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = send()
    return result, time.monotonic() - started


def test_twilio_sdk_creates_a_message_and_a_call(fake: FakeProvider) -> None:
    client = twilio_client(fake)
    message, took = timed(lambda: client.messages.create(to=TO, from_=FROM, body=BODY, validity_period=600))
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert took >= DELAY
    assert message.status == "queued" and message.to == TO and message.date_created is not None
    assert "123456" not in (message.body or "")  # the code never comes back
    call, took = timed(lambda: client.calls.create(to=TO, from_=FROM, url="https://verify.example.com/answer"))
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert took >= DELAY


def test_plivo_sdk_creates_a_message_and_a_call(fake: FakeProvider) -> None:
    client = plivo_client(fake)
    response, took = timed(lambda: client.messages.create(src=FROM, dst=TO, text=BODY, log="false"))
    assert len(response.message_uuid[0]) == 36
    assert took >= DELAY
    call, took = timed(
        lambda: client.calls.create(
            from_=FROM.lstrip("+"), to_=TO.lstrip("+"), answer_url="https://verify.example.com/answer"
        )
    )
    assert len(call.request_uuid) == 36
    assert took >= DELAY


def test_control_stalls_one_provider_and_stats_count(fake: FakeProvider) -> None:
    twilio, plivo_ = twilio_client(fake), plivo_client(fake)
    settings = fake.set(delay=0.5, provider="twilio")
    assert settings["latency"]["twilio"]["delay"] == 0.5 and settings["latency"]["plivo"]["delay"] == DELAY
    _, slow = timed(lambda: twilio.messages.create(to=TO, from_=FROM, body=BODY))
    _, fast = timed(lambda: plivo_.messages.create(src=FROM, dst=TO, text=BODY))
    assert slow >= 0.5
    assert fast < 0.4
    fake.set(delay=DELAY, provider="twilio")
    twilio.calls.create(to=TO, from_=FROM, url="https://verify.example.com/answer")
    assert requests.post(f"{fake.url}/2010-04-01/Accounts/AC1/Nope.json", timeout=5).status_code == 404

    stats = fake.stats()
    assert stats["answered"] == {"twilio": {"sms": 1, "call": 1}, "plivo": {"sms": 1, "call": 0}}
    assert stats["in_flight"] == 0 and stats["not_found"] == 1
    assert fake.reset()["answered"] == {"twilio": {"sms": 0, "call": 0}, "plivo": {"sms": 0, "call": 0}}
    with pytest.raises(ValueError, match="provider"):
        fake.set(delay=1, provider="signalwire")


def test_hundreds_of_slow_requests_wait_together(fake: FakeProvider) -> None:
    fake.set(delay=1.0)  # long enough for all 300 to be waiting at once, even on a busy machine
    port = urlsplit(fake.url).port
    request = (
        b"POST /v1/Account/MA1/Message/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )

    async def twice() -> int:  # two requests on one kept-alive connection
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        statuses = []
        for _ in range(2):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            statuses.append(int(head.split(b" ")[1]))
        writer.close()
        return sum(s == 202 for s in statuses)

    async def run() -> tuple[int, int]:
        tasks = [asyncio.create_task(twice()) for _ in range(300)]
        most = 0
        while not all(t.done() for t in tasks):  # the most requests seen waiting at the same moment
            most = max(most, await asyncio.to_thread(lambda: fake.stats()["in_flight"]))
            await asyncio.sleep(0.05)
        return sum(await asyncio.gather(*tasks)), most

    answered, most_at_once = asyncio.run(run())
    assert answered == 600
    assert most_at_once == 300  # every connection's request waited at once: none queued behind another
    assert fake.stats()["answered"]["plivo"]["sms"] == 600
