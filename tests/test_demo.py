"""The demo page and the seed tutorials' form endpoints, answering as the tutorial did."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

NUMBER = "+14155550100"


@pytest.fixture
def client(make_app) -> FlaskClient:
    return make_app().test_client()


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.assets: list[str] = []
        self.in_form = False  # inputs outside forms (the script-only authenticator panel) post nothing

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs["action"], "method": attrs["method"], "fields": []})
            self.in_form = True
        elif tag == "input" and self.in_form:
            self.forms[-1]["fields"].append(attrs["name"])
        elif tag in ("script", "link", "img") and (attrs.get("src") or attrs.get("href")):
            self.assets.append(attrs.get("src") or attrs.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def test_index_has_the_two_tutorial_forms_and_no_external_assets(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = Forms()
    page.feed(response.get_data(as_text=True))
    assert [(f["action"], f["method"], f["fields"]) for f in page.forms] == [
        ("/request-auth", "POST", ["number"]),
        ("/validate-auth", "POST", ["number", "auth_code"]),
    ]
    assert page.assets == []


def code_of(client: FlaskClient) -> str:
    return re.search(r"\b(\d{6})\b", client.get("/dev/outbox").get_json()["sends"][0]["body"]).group(1)


def test_request_and_validate(client: FlaskClient) -> None:
    response = client.post("/request-auth", data={"number": NUMBER})
    assert (response.status_code, response.get_data(as_text=True)) == (200, "Your code was sent")
    code = code_of(client)
    wrong = "000000" if code != "000000" else "111111"
    response = client.post("/validate-auth", data={"number": NUMBER, "auth_code": wrong})
    assert (response.status_code, response.get_data(as_text=True)) == (403, "Forbidden")
    response = client.post("/validate-auth", data={"number": NUMBER, "auth_code": code})
    assert (response.status_code, response.get_data(as_text=True)) == (200, "Success!")
    response = client.post("/validate-auth", data={"number": NUMBER, "auth_code": code})
    assert (response.status_code, response.get_data(as_text=True)) == (403, "Forbidden")


@pytest.mark.parametrize("route", ["/request-auth", "/validate-auth"])
def test_invalid_numbers(client: FlaskClient, route: str) -> None:
    response = client.post(route, data={"number": "12", "auth_code": "123456"})
    assert (response.status_code, response.get_data(as_text=True)) == (400, "Invalid Phone Number")


def test_unknown_number_and_malformed_code_look_the_same(client: FlaskClient) -> None:
    for code in ("123456", "abc", ""):
        response = client.post("/validate-auth", data={"number": "+14155550199", "auth_code": code})
        assert (response.status_code, response.get_data(as_text=True)) == (403, "Forbidden")


def test_demo_and_outbox_are_absent_in_production(redis_url: str) -> None:
    from conftest import TWILIO

    from app import create_app

    app = create_app({"APP_ENV": "production", "SECRET_KEY": "s" * 32, "API_KEYS": "k" * 32,
                      "PUBLIC_BASE_URL": "https://v.example.com", "REDIS_URL": redis_url,
                      "OTP_PROVIDER": "twilio", **TWILIO})  # fmt: skip
    client = app.test_client()
    assert client.get("/").status_code == 404
    assert client.post("/request-auth", data={"number": NUMBER}).status_code == 404
    assert client.get("/dev/outbox").status_code == 404
