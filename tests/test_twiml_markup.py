"""TwiML (Twilio and SignalWire): one exact golden document, the same tree as twilio's own
VoiceResponse builder, and escaping of every text that reaches a template."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import BASE_CONFIG, BASE_URL, call_markup
from conftest import render_markup as render
from flask import Flask
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from app import create_app
from telephony.service import VoiceScript
from telephony.wording import words

GOLDEN = Path(__file__).parent / "golden"
MENU = f"{BASE_URL}/webhooks/twilio/voice/vf_00000000AAAAAAAAAAAAAAAAAAAAAA/menu?a=1&r=0"
PAYLOAD = "</Say><Dial>+15550001111</Dial>"


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(BASE_CONFIG)


def call(app: Flask, brand: str = "Verify", code: str = "123456", menu_url: str | None = MENU) -> str:
    return call_markup(app, "twiml", menu_url, brand=brand, code=code)


def test_the_call_document_is_exactly_the_golden_one(app: Flask) -> None:
    assert call(app) + "\n" == (GOLDEN / "twiml_call.xml").read_text()


def test_the_template_builds_the_tree_twilios_own_builder_builds(app: Flask) -> None:
    text = words("en")
    voice = {"voice": text.voice, "language": text.language}
    built = VoiceResponse()
    gather = built.gather(input="dtmf", num_digits=1, timeout=5, action=MENU, method="POST")
    gather.say(text.intro.format(brand="Verify"), **voice)
    gather.pause(length=1)
    for lead in (None, text.again):
        if lead:
            gather.say(lead, **voice)
            gather.pause(length=1)
        for digit in "123456":
            gather.say(digit, **voice)
            gather.pause(length=1)
    gather.say(text.press_one, **voice)
    built.say(text.goodbye, **voice)
    built.hangup()
    canonical = lambda document: ET.canonicalize(document, strip_text=True)  # noqa: E731
    assert canonical(call(app)) == canonical(str(built))


def tags(document: str) -> list[str]:
    return [element.tag for element in ET.fromstring(document).iter()]


def test_a_hostile_brand_cannot_add_an_element(app: Flask) -> None:
    text = words("en")
    hostile, plain = call(app, brand=PAYLOAD), call(app)
    assert tags(hostile) == tags(plain) and "Dial" not in tags(hostile)
    assert PAYLOAD in ET.fromstring(hostile).find("Gather/Say").text
    script = VoiceScript("en", PAYLOAD, available=True, digits=("1",))
    gate = render(app, "twiml/gate.xml", script=script, text=text, menu_url=MENU + "&x=</Gather>")
    assert "Dial" not in tags(gate) and ET.fromstring(gate).find("Gather").get("action").endswith("&x=</Gather>")
    goodbye = render(app, "twiml/goodbye.xml", script=script, text=text)
    assert tags(goodbye) == ["Response", "Say", "Hangup"]


def test_a_hostile_reply_stays_text(app: Flask) -> None:
    reply = render(app, "twiml/sms_reply.xml", reply=PAYLOAD, to="+1", sender="+2")
    assert tags(reply) == ["Response", "Message"] and ET.fromstring(reply).find("Message").text == PAYLOAD
    built = MessagingResponse()
    built.message(PAYLOAD)
    assert ET.canonicalize(reply, strip_text=True) == ET.canonicalize(str(built), strip_text=True)
    assert tags(render(app, "twiml/sms_reply.xml", reply=None, to="+1", sender="+2")) == ["Response"]


def test_templates_refuse_missing_values(app: Flask) -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render(app, "twiml/call.xml", script=VoiceScript("en", "Verify", True, ("1",)), text=words("en"))
