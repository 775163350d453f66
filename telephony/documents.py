"""Small dataclasses kept whole as JSON documents (a /v2 service, a challenge)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Self


class JsonDocument:
    """`to_json` and `from_json` for a dataclass of JSON-friendly fields. Reading ignores fields the
    class no longer has, so a document written by a newer or older release still loads."""

    def to_json(self) -> str:
        fields: dict[str, Any] = asdict(self)  # type: ignore[call-overload]  # only dataclasses inherit this
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        known = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})
