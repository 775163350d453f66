"""How a verification is written down: the flat string fields of a Redis hash (the memory store keeps
the same dictionaries).

Short fields, each value 64 bytes at most, so Redis keeps the hash in its compact listpack encoding
(bench/RESULTS.md: about 4 times smaller than a hashtable). Attempt i is `a<i>` =
"send_no|channel|provider|status|at_ms", with its provider id in `i<i>`, the provider's raw status
word in `r<i>` and a send error in `z<i>`, each only when there is one. `f` is "1" once the
fallback call was placed. A start through /v2 adds its service's SID (`g`), brand (`b`), PSD2
amount and payee (`y`, `w`), press-a-key gate (`d`) and Android app hash (`j`); a purpose other
than login is `u`. The stores add `n`
and `q`, the keyed names of the number and its prefix (store/keys.py), and `p`, the times the code
was played. The Lua scripts in store/lua/ read `s`, `k`, `h`, `e`, `v`, `n`, `q` and `g`: keep
their spelling in step.
"""

from __future__ import annotations

from telephony.models import SHORT_TEXT, Attempt, Channel, Mode, SendStatus, Status, Verification

_FIELDS = {"to": "t", "status": "s", "checks_left": "k", "mac": "h", "sealed": "x", "version": "v"}


def to_record(v: Verification) -> dict[str, str]:
    """Flat string fields for a Redis hash (the id is in the key, not repeated here)."""
    record = {short: str(getattr(v, name)) for name, short in _FIELDS.items()}
    record["m"] = f"{v.mode}|{v.locale}|{v.max_sends}"
    record["c"] = str(round(v.created_at * 1000))
    record["e"] = str(round(v.expires_at * 1000))
    if v.fell_back:
        record["f"] = "1"
    for short, text in (("g", v.service), ("b", v.brand), ("y", v.amount), ("w", v.payee), ("j", v.app_hash)):
        if text:
            record[short] = text
    if v.purpose != "login":
        record["u"] = v.purpose
    if v.press_key is not None:
        record["d"] = "1" if v.press_key else "0"
    return {**record, **attempts_record(v.attempts)}


def attempts_record(attempts: tuple[Attempt, ...]) -> dict[str, str]:
    """Provider attempts as record fields (a verification's sends, an approval's too)."""
    record = {}
    for i, a in enumerate(attempts):
        record[f"a{i}"] = f"{a.send_no}|{a.channel}|{a.provider}|{a.status}|{round(a.at * 1000)}"
        if a.provider_id:  # whole: receipts are matched against it (carriers' ids fit in 64 bytes)
            record[f"i{i}"] = a.provider_id
        for prefix, value in (("r", a.raw_status), ("z", a.error)):
            if value:
                record[f"{prefix}{i}"] = value[:SHORT_TEXT]
    return record


def attempts_from_record(record: dict[str, str]) -> tuple[Attempt, ...]:
    attempts: list[Attempt] = []
    while (row := record.get(f"a{len(attempts)}")) is not None:
        i = len(attempts)
        send_no, channel, provider, status, at = row.split("|")
        attempts.append(
            Attempt(int(send_no), Channel(channel), provider, SendStatus(status), int(at) / 1000,
                    record.get(f"i{i}"), record.get(f"r{i}"), record.get(f"z{i}"))
        )  # fmt: skip
    return tuple(attempts)


def from_record(record: dict[str, str], verification_id: str) -> Verification:
    attempts = attempts_from_record(record)
    mode, locale, max_sends = record["m"].split("|")
    return Verification(
        id=verification_id,
        to=record["t"],
        mode=Mode(mode),
        locale=locale,
        status=Status(record["s"]),
        checks_left=int(record["k"]),
        max_sends=int(max_sends),
        created_at=int(record["c"]) / 1000,
        expires_at=int(record["e"]) / 1000,
        mac=record.get("h", ""),  # events keep records without the code's MAC and sealed copy
        sealed=record.get("x", ""),
        attempts=attempts,
        version=int(record["v"]),
        # Releases before the named flag kept a JSON object of flags here.
        fell_back=record.get("f", "") not in ("", "{}"),
        service=record.get("g", ""),
        brand=record.get("b", ""),
        amount=record.get("y", ""),
        payee=record.get("w", ""),
        press_key=None if "d" not in record else record["d"] == "1",
        app_hash=record.get("j", ""),
        purpose=record.get("u", "login"),
    )
