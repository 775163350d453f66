"""Services: the multi-tenant unit of the Twilio Verify-compatible API (`/v2/Services/VA…`).

A service's settings override the environment's defaults for its own verifications. What a later
request needs of them (the brand a call speaks, the press-a-key gate) is copied into each
verification when it starts, so a check, an answer URL or a receipt reads them in the same round
trip as the verification itself. `/v1` works on the default service, built from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from telephony.config import Settings
from telephony.documents import JsonDocument
from telephony.errors import InvalidRequest
from telephony.models import ID_PATTERN
from telephony.store.base import Store
from telephony.store.keys import SHORT_MARK

SID = re.compile(r"^(?P<prefix>[A-Z]{2})[0-9a-f]{32}$")
BRAND_MAX = 30  # Twilio's FriendlyName limit; it is said in every SMS and call


def new_sid(prefix: str) -> str:
    """Twilio's shape: two letters and 32 hex digits (128 random bits)."""
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    found = SID.match(value)
    return found is not None and found["prefix"] == prefix


def verification_sid(verification_id: str) -> str | None:
    """The `VE…` SID of a verification started through /v2 (its id's tag and 96 random bits, in
    hex); None for an id made by /v1."""
    if not (ID_PATTERN.match(verification_id) and verification_id.endswith(SHORT_MARK)):
        return None
    random = base64.urlsafe_b64decode(verification_id[11:27])
    return "VE" + verification_id[3:11] + random.hex()


def verification_id(sid: str) -> str | None:
    """The verification id a `VE…` SID stands for (the inverse of `verification_sid`)."""
    if not is_sid(sid, "VE"):
        return None
    random = base64.urlsafe_b64encode(bytes.fromhex(sid[10:])).decode()
    return f"vf_{sid[2:10]}{random}{SHORT_MARK}"


def attempt_sid(verification_id: str, index: int) -> str:
    """A stable `VL…` SID for a verification's send attempt `index` (Twilio's `send_code_attempts`)."""
    return "VL" + hashlib.sha256(f"{verification_id}:{index}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Service(JsonDocument):
    sid: str
    friendly_name: str
    code_length: int = 6
    skip_sms_to_landlines: bool = False
    dtmf_input_required: bool = True
    custom_code_enabled: bool = False
    do_not_share_warning_enabled: bool = False
    psd2_enabled: bool = False
    totp_issuer: str = ""
    totp_time_step: int = 30
    totp_code_length: int = 6
    totp_skew: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0


def default_service(settings: Settings) -> Service:
    """The service `/v1` works on: the environment's settings, no SID of its own."""
    return Service(
        sid="", friendly_name=settings.otp_brand, code_length=settings.otp_length,
        dtmf_input_required=settings.otp_voice_press_key, totp_issuer=settings.otp_brand,
    )  # fmt: skip


# Twilio's form names -> (field, parser, bounds). Booleans arrive as the strings "true"/"false".
def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidRequest(f"Invalid parameter: {name}")
    return lowered == "true"


def _int(low: int, high: int) -> Any:
    def parse(name: str, value: str) -> int:
        value = value.strip()
        if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
            raise InvalidRequest(f"Invalid parameter: {name}")
        return int(value)

    return parse


def _text(high: int) -> Any:
    def parse(name: str, value: str) -> str:
        value = value.strip()
        if not 0 < len(value) <= high or not value.isprintable():
            raise InvalidRequest(f"Invalid parameter: {name}")
        return value

    return parse


FORM_FIELDS = {
    "FriendlyName": ("friendly_name", _text(BRAND_MAX)),
    "CodeLength": ("code_length", _int(4, 10)),
    "SkipSmsToLandlines": ("skip_sms_to_landlines", _bool),
    "DtmfInputRequired": ("dtmf_input_required", _bool),
    "CustomCodeEnabled": ("custom_code_enabled", _bool),
    "DoNotShareWarningEnabled": ("do_not_share_warning_enabled", _bool),
    "Psd2Enabled": ("psd2_enabled", _bool),
    "Totp.Issuer": ("totp_issuer", _text(BRAND_MAX)),
    "Totp.TimeStep": ("totp_time_step", _int(20, 60)),
    "Totp.CodeLength": ("totp_code_length", _int(3, 8)),
    "Totp.Skew": ("totp_skew", _int(0, 2)),
}


def changes_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The settings a create or update form names, parsed; unknown names are ignored, as Twilio's
    clients send only what the caller gave."""
    return {field: parse(name, form[name]) for name, (field, parse) in FORM_FIELDS.items() if name in form}


def create(form: Mapping[str, str], base: Service, now: float) -> Service:
    """A new service from `form` over `base` (the environment's defaults); FriendlyName required."""
    changes = changes_from_form(form)
    if "friendly_name" not in changes:
        raise InvalidRequest("Invalid parameter: FriendlyName")
    changes.setdefault("totp_issuer", changes["friendly_name"])
    return replace(base, sid=new_sid("VA"), created_at=now, updated_at=now, **changes)


def update(service: Service, form: Mapping[str, str], now: float) -> Service:
    return replace(service, updated_at=now, **changes_from_form(form))


# --- kept in the store's configuration documents --------------------------------------------


def put(store: Store, service: Service) -> None:
    store.doc_put("service", service.sid, service.to_json())


def get(store: Store, sid: str) -> Service | None:
    found = store.doc_get("service", sid) if is_sid(sid, "VA") else None
    return None if found is None else Service.from_json(found)


def every(store: Store) -> list[Service]:
    """All services, oldest first."""
    return sorted((Service.from_json(text) for text in store.doc_list("service")), key=lambda s: s.created_at)


def remove(store: Store, sid: str) -> bool:
    return store.doc_delete("service", sid)
