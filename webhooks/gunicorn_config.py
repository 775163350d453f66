"""gunicorn settings (`gunicorn -c python:webhooks.gunicorn_config 'app:create_app()'`).

The worker model (4 sync workers, as in the Procfile) is the one bench/RESULTS.md chose on 2 cores:
gthread had more throughput but p99 up to twice as long. WEB_CONCURRENCY and WEB_THREADS override
it where the Procfile's flags are not given (the Docker image). Metrics from every worker are
added up through PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import tempfile

workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
timeout = 30
graceful_timeout = 20
keepalive = 5

# Set before any worker imports prometheus_client, so all of them share one directory.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # not setdefault: it would make a directory every time
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="otp-metrics-")


def child_exit(server: object, worker: object) -> None:
    """Drop an exited worker's live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_worker_init(worker: object) -> None:
    """The app is loaded: take its long-lived objects (modules, SDKs, number metadata) out of the
    garbage collector's full passes, which then scan only what requests made (27 ms per full
    pass before, 8 ms after, in bench/cpu.py's process: a pause every request behind it waits)."""
    import gc

    gc.collect()
    gc.freeze()
