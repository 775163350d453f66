"""Where verifications live: `MemoryStore` for a first run, `RedisStore` for production."""

from __future__ import annotations

from collections.abc import Callable

from telephony.store.base import CheckOutcome, Store
from telephony.store.keys import KeyNames
from telephony.store.memory import MemoryStore

__all__ = ["CheckOutcome", "KeyNames", "MemoryStore", "Store", "store_from_url"]


def store_from_url(url: str, *, names: KeyNames, clock: Callable[[], float] | None = None) -> Store:
    """`""` selects the in-memory store; `redis://`, `rediss://` or `unix://` a Redis server."""
    if not url:
        return MemoryStore(clock=clock, names=names)
    from telephony.store.redis import RedisStore  # redis-py is only imported when used

    return RedisStore.from_url(url, names)
