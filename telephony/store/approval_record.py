"""How an approval is written down: flat string fields of a Redis hash, as a verification is
(store/record.py, whose attempt fields it shares). The scripts read `s`, `e` and `v`."""

from __future__ import annotations

import json

from telephony.approvals import Approval, ApprovalStatus
from telephony.models import Channel
from telephony.store.record import attempts_from_record, attempts_record


def to_approval_record(a: Approval) -> dict[str, str]:
    record = {
        "t": a.to, "s": str(a.status), "m": f"{a.channel}|{a.locale}", "msg": a.message, "r": a.reference,
        "c": str(round(a.created_at * 1000)), "e": str(round(a.expires_at * 1000)), "v": str(a.version),
        "det": json.dumps(a.details, separators=(",", ":")), "hid": json.dumps(a.hidden_details, separators=(",", ":")),
    }  # fmt: skip
    if a.brand:
        record["b"] = a.brand
    if a.responded_at is not None:
        record["ra"] = str(round(a.responded_at * 1000))
    if a.responded_via:
        record["rv"] = a.responded_via
    return {**record, **attempts_record(a.attempts)}


def from_approval_record(record: dict[str, str], approval_id: str) -> Approval:
    channel, locale = record["m"].split("|")
    return Approval(
        id=approval_id, to=record["t"], channel=Channel(channel), locale=locale, message=record["msg"],
        reference=record["r"], created_at=int(record["c"]) / 1000, expires_at=int(record["e"]) / 1000,
        status=ApprovalStatus(record["s"]), details=json.loads(record.get("det") or "{}"),
        hidden_details=json.loads(record.get("hid") or "{}"), brand=record.get("b", ""),
        responded_at=int(record["ra"]) / 1000 if "ra" in record else None, responded_via=record.get("rv"),
        attempts=attempts_from_record(record), version=int(record["v"]),
    )  # fmt: skip
