"""docs/openapi.json is true: served at /openapi.json, covering every /v1 route, and schemathesis
finds no answer of the app that the document does not describe.

Schemathesis generates requests from the document (valid ones, and invalid ones that must be
refused with a 4xx) and sends them to the app in-process (WSGI): no server, no network. Every
answer is checked: no 5xx, a documented status code and content type, a body matching the
documented schema, documented headers (`Location` on 201, `Retry-After` on 429), 401 without the
API key. The stateful run follows the document's links from a started verification to its get,
check, resend and cancel, so the 200 answers of those are checked too.
"""

from __future__ import annotations

import json

import phonenumbers
import pytest
import schemathesis
from conftest import BASE_CONFIG, LIMITS_OFF, ROOT
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from app import create_app
from telephony.store import MemoryStore

API_KEY = "openapi-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CONFIG = {
    **BASE_CONFIG,
    "API_KEYS": API_KEY,
    **LIMITS_OFF,  # generated requests come fast from one IP, key and handful of numbers
}
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


def _phone_numbers() -> list[str]:
    """Numbers that can receive codes, as people type them: E.164 and spaced (without its `+` a number is
    refused unless OTP_DEFAULT_REGION is set, as the document says)."""
    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    numbers = []
    for region in ("US", "GB", "FR", "DE", "ES", "IT", "BR", "MX", "IN", "JP", "ZA", "AU"):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(example)
    written = []
    for number in numbers:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        written += [e164, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)]
    return written


# `format: phone` in the document: whether a string is a valid number is libphonenumber's call,
# which no JSON Schema keyword can say, so valid requests draw real numbers.
schemathesis.openapi.format("phone", st.sampled_from(_phone_numbers()))

# The API key on every generated request (the `ignored_auth` check also sends each without it and
# expects 401); no `.schemathesis` cache written into the working tree.
SCHEMATHESIS = schemathesis.Config.from_dict({"headers": AUTH, "cache": {"enabled": False}})


def build_app() -> Flask:
    return create_app(CONFIG, store=MemoryStore())


def served_schema(app: Flask) -> schemathesis.BaseSchema:
    """The document as the app serves it, bound to the app: requests go through WSGI, in-process."""
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=SCHEMATHESIS)


@pytest.fixture
def app() -> Flask:
    return build_app()


@pytest.fixture
def api_schema(app: Flask) -> schemathesis.BaseSchema:
    return served_schema(app)


schema = schemathesis.pytest.from_fixture("api_schema")


# --- the document and the app's routes ---------------------------------------------------------


def test_openapi_json_is_served(app: Flask) -> None:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1.")


def test_every_v1_route_is_documented(app: Flask) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/") or rule.rule == "/v1":
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {
        path: {m for m in item if m in {"get", "put", "post", "delete", "patch"}}
        for path, item in DOCUMENT["paths"].items()
    }
    assert documented == routes


def test_undeclared_methods_get_405_in_the_error_shape(app: Flask) -> None:
    client = app.test_client()
    for path, item in DOCUMENT["paths"].items():
        url = path.replace("{verification_id}", "vf_0123abcd" + "A" * 22)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method.lower() in item:
                continue
            response = client.open(url, method=method, headers=AUTH)
            assert response.status_code == 405, (method, url)
            assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_405_names_the_allowed_methods(app: Flask) -> None:
    response = app.test_client().delete("/v1/verifications", headers=AUTH)
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")


# --- schemathesis ------------------------------------------------------------------------------


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_document(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_api_workflows_conform_to_document(app: Flask) -> None:
    """Start verifications, then follow the document's links to get, check, resend and cancel them."""
    store = app.extensions["verification"].store

    class Workflow(served_schema(app).as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario on an empty store: a start answers 201, or 200 when the number already
            # has a pending verification, so state left by one scenario would change the next one's
            # transitions and hypothesis would see its own draws as flaky.
            store.__init__(names=store.names)

    Workflow.run(
        settings=settings(
            max_examples=30,
            stateful_step_count=6,
            deadline=None,
            phases=[Phase.generate],  # as schemathesis's own default for state machines
            suppress_health_check=list(HealthCheck),
        )
    )
