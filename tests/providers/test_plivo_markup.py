"""Plivo XML: one exact golden document, the same tree as plivo's own builder, and escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import BASE_CONFIG, BASE_URL, call_markup
from conftest import render_markup as render
from flask import Flask
from plivo import plivoxml

from app import create_app
from telephony.service import VoiceScript
from telephony.wording import words

GOLDEN = Path(__file__).parent / "golden"
MENU = f"{BASE_URL}/webhooks/plivo/voice/vf_0000AAAAAAAAAAAAAAAAAAAAAA/menu?a=1&r=0"
PAYLOAD = "</Speak><Dial>+15550001111</Dial>"


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(BASE_CONFIG)


def call(app: Flask, brand: str = "Verify", code: str = "123456", menu_url: str | None = MENU) -> str:
    return call_markup(app, "plivo", menu_url, brand=brand, code=code)


def test_the_call_document_is_exactly_the_golden_one(app: Flask) -> None:
    assert call(app) + "\n" == (GOLDEN / "plivo_call.xml").read_text()  # the file ends its last line


def test_the_template_builds_the_tree_plivos_own_builder_builds(app: Flask) -> None:
    text = words("en")
    voice = {"voice": text.voice, "language": text.language}

    def speak(content: str, pause: bool = True) -> plivoxml.SpeakElement:
        element = plivoxml.SpeakElement(content, **voice)
        return element.add_break(time="1s") if pause else element

    prompt = plivoxml.GetInputElement(
        action=MENU, method="POST", input_type="dtmf", num_digits=1, execution_timeout=5, redirect=True
    )
    prompt.add(speak(text.intro.format(brand="Verify")))
    for lead in (None, text.again):
        if lead:
            prompt.add(speak(lead))
        for digit in "123456":
            prompt.add(speak(digit))
    prompt.add(speak(text.press_one, pause=False))
    built = plivoxml.ResponseElement().add(prompt).add(speak(text.goodbye, pause=False)).add_hangup()
    ours = ET.canonicalize(call(app), strip_text=True)
    assert ours == ET.canonicalize(built.to_string(pretty=False), strip_text=True)


def test_without_a_menu_the_code_is_read_without_a_keypad_prompt(app: Flask) -> None:
    document = ET.fromstring(call(app, menu_url=None))
    assert document.find("GetInput") is None
    said = [e.text for e in document.iter("Speak")]
    assert said.count("1") == 2 and words("en").press_one not in said and document[-1].tag == "Hangup"


def test_a_spent_code_says_so_and_hangs_up(app: Flask) -> None:
    document = ET.fromstring(call(app, code=""))
    assert [e.tag for e in document] == ["Speak", "Hangup"]
    assert document[0].text == words("en").unavailable


def tags(document: str) -> list[str]:
    return [element.tag for element in ET.fromstring(document).iter()]


def test_a_hostile_brand_stays_text(app: Flask) -> None:
    hostile, plain = call(app, brand=PAYLOAD), call(app)
    assert tags(hostile) == tags(plain) and "Dial" not in tags(hostile)
    [intro] = [e for e in ET.fromstring(hostile).iter("Speak") if e.text and "This is" in e.text]
    assert PAYLOAD in intro.text
    gate = render(
        app,
        "plivo/gate.xml",
        script=VoiceScript("en", PAYLOAD, available=True, digits=("1",)),
        text=words("en"),
        menu_url=MENU,
    )
    assert tags(gate) == ["Response", "GetInput", "Speak", "Speak", "Hangup"]
    assert PAYLOAD in ET.fromstring(gate).find("GetInput/Speak").text


def test_goodbye_and_gate(app: Flask) -> None:
    goodbye = ET.fromstring(render(app, "plivo/goodbye.xml", script=VoiceScript("en", "Verify"), text=words("en")))
    assert [e.tag for e in goodbye] == ["Speak", "Hangup"] and goodbye[0].text == words("en").goodbye
    gate = ET.fromstring(render(app, "plivo/gate.xml", script=VoiceScript("en", "Verify", available=True, digits=("1",)), text=words("en"),
                                menu_url=MENU))  # fmt: skip
    prompt = gate.find("GetInput")
    assert (prompt.get("action"), prompt.get("numDigits"), prompt.get("inputType")) == (MENU, "1", "dtmf")


def test_sms_reply_names_both_ends_and_escapes(app: Flask) -> None:
    empty = ET.fromstring(render(app, "plivo/sms_reply.xml", reply=None, to="+14155550100", sender="+14155550199"))
    assert list(empty) == []
    reply = render(app, "plivo/sms_reply.xml", reply=f"Hi {PAYLOAD}", to="+14155550100", sender="+14155550199")
    [message] = list(ET.fromstring(reply))
    assert (message.tag, message.get("src"), message.get("dst")) == ("Message", "14155550199", "14155550100")
    assert message.text == f"Hi {PAYLOAD}" and message.get("type") == "sms"
