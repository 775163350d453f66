"""Domain events: one structured log line each, and the hook metrics listen on.

Numbers are masked here; codes are never passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telephony.models import Verification
from telephony.phone import mask

log = logging.getLogger("telephony")
Observer = Callable[[str, "Verification | None", dict[str, object]], None]
OBSERVERS: list[Observer] = []  # process-wide, like the metrics registry they feed


def event(name: str, v: Verification | None = None, *, level: int = logging.INFO, **fields: object) -> None:
    if log.isEnabledFor(level):
        parts = [f"event={name}"]
        if v is not None:
            parts += [f"verification={v.id}", f"to={mask(v.to)}"]
        parts += [f"{k}={val}" for k, val in fields.items() if val is not None]
        # The record is made here rather than by `log.log`, which would walk the stack to find
        # the caller: always this function, and a tenth of a check's CPU (bench/RESULTS.md).
        log.handle(log.makeRecord(log.name, level, __file__, 0, " ".join(parts), (), None, "event"))
    for observe in OBSERVERS:
        observe(name, v, fields)


def observe(observer: Observer) -> None:
    """Register an observer once per process (apps built again, as in tests, do not add it twice)."""
    if observer not in OBSERVERS:
        OBSERVERS.append(observer)
