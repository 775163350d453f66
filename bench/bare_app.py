"""A Flask app with no project code: bench/calibrate.py measures what this machine allows at all."""

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Flask:
    """The same app, for servers that call a factory in each worker (granian --factory)."""
    return app
