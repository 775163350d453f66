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
    parts = [f"event={name}"]
    if v is not None:
        parts += [f"verification={v.id}", f"to={mask(v.to)}"]
    parts += [f"{k}={val}" for k, val in fields.items() if val is not None]
    log.log(level, " ".join(parts))
    for observe in OBSERVERS:
        observe(name, v, fields)


def observe(observer: Observer) -> None:
    """Register an observer once per process (apps built again, as in tests, do not add it twice)."""
    if observer not in OBSERVERS:
        OBSERVERS.append(observer)
