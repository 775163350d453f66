"""QR codes of provisioning URIs, for an authenticator app to scan: SVG for the API and the demo
page, text blocks for a terminal (`flask otp totp enrol`)."""

from __future__ import annotations

import io

import segno


def svg(text: str) -> str:
    """A standalone SVG image (namespace, white background, no XML declaration): valid in a file, a
    data: URL or inline in HTML alike. Error correction M, as authenticator apps' own QR codes use."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", xmldecl=False, scale=4, light="#fff")
    return out.getvalue().decode()


def terminal(text: str) -> str:
    """The QR code drawn with block characters, two rows of modules per line of text."""
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True)
    return out.getvalue()
