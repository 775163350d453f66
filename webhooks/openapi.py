"""The OpenAPI 3.1 document of /v1, served as written in docs/openapi.json."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"

bp = Blueprint("openapi", __name__)


@cache
def _document() -> bytes:
    """The file's bytes, read once per process (it ships with the code and never changes under it)."""
    return DOCUMENT.read_bytes()


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return Response(_document(), mimetype="application/json")
