"""How a notice is written down: flat string fields of a Redis hash, as an approval is (its attempt
fields are a verification's, store/record.py). The scripts read `e` and `v`."""

from __future__ import annotations

from telephony.notices import Notice, NoticeKind, NoticeStatus
from telephony.store.record import attempts_from_record, attempts_record


def to_notice_record(n: Notice) -> dict[str, str]:
    record = {"t": n.to, "s": str(n.status), "m": f"{n.kind}|{n.locale}", "c": str(round(n.created_at * 1000)),
              "e": str(round(n.expires_at * 1000)), "v": str(n.version)}  # fmt: skip
    if n.brand:
        record["b"] = n.brand
    return {**record, **attempts_record(n.attempts)}


def from_notice_record(record: dict[str, str], notice_id: str) -> Notice:
    kind, locale = record["m"].split("|")
    return Notice(
        id=notice_id, to=record["t"], kind=NoticeKind(kind), locale=locale, created_at=int(record["c"]) / 1000,
        expires_at=int(record["e"]) / 1000, status=NoticeStatus(record["s"]), brand=record.get("b", ""),
        attempts=attempts_from_record(record), version=int(record["v"]),
    )  # fmt: skip
