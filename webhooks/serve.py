"""The app for servers without gunicorn's worker hooks: the Procfile's granian line calls
`worker_app` once in each worker (`--factory`), and it does what `webhooks/gunicorn_config.py`
does around each gunicorn worker."""

from __future__ import annotations

import gc
import sys

from flask import Flask

from telephony.errors import ConfigError
from webhooks import metrics


def worker_app() -> Flask:
    """One worker's app: metrics counted with the other processes' (the files of workers gone
    since are dropped first), its own Redis connections (made here, after the fork), and its
    long-lived objects out of the collector's full passes (a full pass then scans only what
    requests made: 8 ms instead of 27 in bench/cpu.py's process)."""
    directory = metrics.share_across_processes()
    if directory is not None:
        metrics.forget_dead_processes(directory)
    from app import create_app  # after the metrics directory is chosen: prometheus_client fixes it on import

    try:
        app = create_app()
    except ConfigError as exc:
        # One line naming the variable, as under gunicorn, and the server stops instead of
        # starting workers that cannot serve.
        message = str(exc)
        prefix = "" if message.startswith("configuration error") else "configuration error: "
        print(prefix + message, file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    gc.collect()
    gc.freeze()
    return app
