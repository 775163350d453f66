"""JSON in and out of the API, without Flask's general-purpose layers on the hot path.

`jsonify` goes through the app's JSON provider (a default hook for dates and dataclasses, a
response built from keyword arguments); our payloads are plain dicts of strings, numbers and
lists, so one `json.dumps` does (bench/RESULTS.md: a check spends less CPU this way).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

# ASCII-only output: a lone surrogate echoed from a request (an unknown field's name) cannot
# then make the body unencodable.
_compact = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(_compact(payload), status=status, mimetype="application/json")
