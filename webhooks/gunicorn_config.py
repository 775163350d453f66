"""gunicorn settings (`gunicorn -c python:webhooks.gunicorn_config 'app:create_app()'`).

The Procfile serves the app with granian (bench/RESULTS.md says why; webhooks/serve.py does per
worker what this file does); gunicorn still works with these settings. WEB_CONCURRENCY (default 4)
and WEB_THREADS (default 1: sync workers) choose its workers; with a provider that takes hundreds of
milliseconds, give it threads (WEB_THREADS=32: gthread), or a start holds a whole worker while it
waits. Metrics from every worker, and from `otp worker`, are added up through one
PROMETHEUS_MULTIPROC_DIR (webhooks/metrics.py).
"""

from __future__ import annotations

import os

from webhooks import metrics

workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
timeout = 30
graceful_timeout = 20
keepalive = 5

# In the master, before any worker is forked and counts: every worker inherits the directory.
_multiproc_dir = metrics.share_across_processes()


def on_starting(server: object) -> None:
    if _multiproc_dir is not None and _multiproc_dir == metrics.default_directory():
        metrics.forget_dead_processes(_multiproc_dir)


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
