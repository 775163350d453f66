"""How lifecycle events are shown: in GET /v1/events, in a Standard Webhooks delivery, and in the
form a /v2 service's webhook receives. Each shows the resource as its API does."""

from __future__ import annotations

from typing import Any

from telephony import factors
from telephony.eventlog import EXPIRED, Delivery, Event
from telephony.store.approval_record import from_approval_record
from telephony.store.notice_record import from_notice_record
from telephony.store.record import from_record
from webhooks.v2 import account_sid
from webhooks.v2 import verification_view as v2_view
from webhooks.v2_factors import entity_sid, factor_sid
from webhooks.views import approval_view, factor_view, iso, notice_view, verification_view


def data_view(e: Event) -> dict[str, Any]:
    """The resource as /v1 shows it, as it was right after the change (an expired one: `expired`)."""
    if e.resource.startswith("ap_"):
        return approval_view(from_approval_record(e.record, e.resource))
    if e.resource.startswith("nt_"):
        return notice_view(from_notice_record(e.record, e.resource))
    if e.resource.startswith("tf_"):  # a TOTP factor: its record never holds the secret (`x`)
        return factor_view(factors.from_record(e.record, e.resource))
    view = verification_view(from_record(e.record, e.resource))
    if e.type == EXPIRED:
        view["status"] = "expired"
    return view


def delivery_view(d: Delivery | None) -> dict[str, Any]:
    if d is None:
        return {"status": "none", "attempts": 0, "last_status": None, "next_attempt_at": None}
    due = iso(d.next_attempt_at) if d.next_attempt_at is not None and not d.final else None
    return {"status": str(d.status), "attempts": d.attempts, "last_status": d.last_status, "next_attempt_at": due}


def event_view(e: Event, delivery: Delivery | None) -> dict[str, Any]:
    """An event as GET /v1/events lists it."""
    shown = {"id": e.id, "type": e.type, "created_at": iso(e.at), "data": data_view(e)}
    return {**shown, "delivery": delivery_view(delivery)}


class EventPayloads:
    """The bodies the delivery worker sends (telephony.delivery.Payloads)."""

    def standard(self, e: Event) -> dict[str, Any]:
        return {"type": e.type, "timestamp": iso(e.at), "data": data_view(e)}

    def twilio(self, e: Event, webhook: dict[str, Any]) -> dict[str, str]:
        """Form fields named as Twilio's webhooks and Verify resources name them (a /v2 service's
        events are its verifications')."""
        """Form fields named as Twilio's webhooks and Verify resources name them."""
        if e.resource.startswith("tf_"):
            return self._twilio_factor(e, webhook)
        view = v2_view(from_record(e.record, e.resource), e.service, check=True)
        status = "expired" if e.type == EXPIRED else view["status"]
        fields = {
            "uuid": e.id, "type": e.type, "account_sid": view["account_sid"], "service_sid": e.service,
            "webhook_sid": webhook["sid"], "verification_sid": view["sid"], "to": view["to"],
            "channel": view["channel"], "status": status, "valid": str(status == "approved").lower(),
            "amount": view["amount"], "payee": view["payee"], "date_created": view["date_created"],
            "date_updated": view["date_updated"], "event_date": iso(e.at),
        }  # fmt: skip
        return {k: str(v) for k, v in fields.items() if v is not None}

    def _twilio_factor(self, e: Event, webhook: dict[str, Any]) -> dict[str, str]:
        """A factor's event as Twilio's Verify webhooks send it (`factor.verified`, `factor.deleted`)."""
        f = factors.from_record(e.record, e.resource)
        return {
            "uuid": e.id, "type": e.type, "account_sid": account_sid(), "service_sid": e.service,
            "webhook_sid": webhook["sid"], "entity_identity": f.identity,
            "entity_sid": entity_sid(f.service, f.identity), "factor_sid": factor_sid(f), "factor_type": "totp",
            "factor_friendly_name": f.friendly_name,
            "status": f.status, "date_created": iso(f.created_at), "date_updated": iso(f.verified_at or f.created_at),
            "event_date": iso(e.at),
        }  # fmt: skip
