"""Domain events: one structured log line each, and the hook metrics listen on.

Numbers are masked here; codes are never passed in. Every value written to a log line, here or by
any other module, goes through `logvalue`: the one rule that keeps request text from ending a
line early or faking a field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telephony.models import Verification
from telephony.phone import mask

log = logging.getLogger("telephony")
_QUOTED = ' "=\\'  # printable, yet they would split a value or fake a field
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
Observer = Callable[[str, "Verification | None", dict[str, object]], None]
OBSERVERS: list[Observer] = []  # process-wide, like the metrics registry they feed


def logvalue(value: object) -> str:
    """`value` as one logfmt value: bare when safe, else quoted with every risky character escaped.

    A newline, a quote or an `=` in request text (a path, a carrier's field) could otherwise end
    the line or add fields, and a reader could not tell a forged `event=...` line from ours.
    """
    text = str(value)
    if text and text.isprintable() and not any(ch in text for ch in _QUOTED):
        return text
    return '"' + "".join(_escaped(ch) for ch in text) + '"'


def _escaped(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    return ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")  # \x07, \u2028


def event(name: str, v: Verification | None = None, *, level: int = logging.INFO, **fields: object) -> None:
    if log.isEnabledFor(level):
        parts = [f"event={name}"]
        if v is not None:
            parts += [f"verification={v.id}", f"to={mask(v.to)}"]
        parts += [f"{k}={logvalue(val)}" for k, val in fields.items() if val is not None]
        log.log(level, "%s", " ".join(parts), stacklevel=2)  # the record names the caller
    for observe in OBSERVERS:
        observe(name, v, fields)


def observe(observer: Observer) -> None:
    """Register an observer once per process (apps built again, as in tests, do not add it twice)."""
    if observer not in OBSERVERS:
        OBSERVERS.append(observer)
