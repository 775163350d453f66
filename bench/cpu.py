"""CPU per request of each kind, in-process, straight through the WSGI app (no HTTP, no load generator).

    python bench/cpu.py                      # every kind, 5 interleaved rounds of 1 000
    python bench/cpu.py --kinds healthz answer --count 3000

A quick, low-noise gauge to use between full `run.py` runs: each request's environ is built
beforehand, and only the app's own call (including its Redis client, not the server) is timed
with the process CPU clock. Ratios to `healthz` here predict the HTTP ratios only roughly:
gunicorn adds its own fixed cost per request (parsing, accept, close) that every kind shares.
Log lines are formatted and written (to /dev/null) and metrics kept in multiprocess files, as
under gunicorn.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# As under gunicorn (webhooks/gunicorn_config.py): metrics in shared files, set before the import.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-cpu-metrics-"))

import redis
from werkzeug.test import EnvironBuilder

from app import create_app
from bench.common import RedisServer, app_settings
from bench.hotspots import requests_for
from bench.seed import KINDS


def environ_for(fields: list[str]) -> dict:
    method, path, body, *headers = fields
    path, _, query = path.partition("?")
    builder = EnvironBuilder(
        path=path, query_string=query, method=method, data=body.encode(),
        headers=dict(zip(headers[::2], headers[1::2], strict=True)),
        base_url="http://127.0.0.1:5000",
    )  # fmt: skip
    environ = builder.get_environ()
    environ["wsgi.input"] = io.BytesIO(body.encode())
    return environ


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--count", type=int, default=1000, help="requests per kind per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pool", type=int, default=0, help="requests prepared per kind (default: one per request)")
    args = p.parse_args(argv)
    with RedisServer() as server:
        config = app_settings(server.port, 5000)
        app = create_app(config)
        # Log lines are formatted and written as in production, to /dev/null instead of stderr.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
        client = redis.Redis(port=server.port)
        total = args.pool or args.count * args.rounds + 50
        lines = {kind: requests_for(kind, client, app, total, config["PUBLIC_BASE_URL"]) for kind in args.kinds}
        # Every environ is built before any is timed, as many whatever --count is (so that
        # bench/instructions.py can subtract two runs), and each is used once.
        # Kinds that may repeat a request (healthz, start, wrong checks) cycle through theirs.
        prepared = {k: [environ_for(lines[k][i % len(lines[k])]) for i in range(total)] for k in args.kinds}
        cursor = dict.fromkeys(args.kinds, 0)
        statuses: list[str] = []

        def start_response(status: str, headers: list, exc_info: object = None) -> None:
            statuses.append(status)

        def run(kind: str, n: int) -> float:
            pool = prepared[kind]
            if cursor[kind] + n > len(pool):
                raise SystemExit(f"{kind}: {len(pool)} prepared requests are too few; raise --pool")
            environs = pool[cursor[kind] : cursor[kind] + n]
            cursor[kind] += n
            statuses.clear()
            began = time.process_time()
            for environ in environs:
                for _ in app(environ, start_response):
                    pass
            spent = time.process_time() - began
            bad = [s for s in statuses if not s.startswith("2")]
            if bad:
                raise SystemExit(f"{kind}: {bad[:3]}")
            return spent / n * 1e6

        for kind in args.kinds:
            run(kind, 50)  # warm-up: connection, scripts, templates
        samples: dict[str, list[float]] = {kind: [] for kind in args.kinds}
        for r in range(args.rounds):
            order = args.kinds[r % len(args.kinds) :] + args.kinds[: r % len(args.kinds)]
            for kind in order:
                samples[kind].append(run(kind, args.count))
        base = statistics.median(samples["healthz"]) if "healthz" in samples else None
        print(f"{'kind':<12} {'CPU µs/req':>11} {'min':>7} {'max':>7} {'÷ healthz':>10}")
        for kind in args.kinds:
            med = statistics.median(samples[kind])
            ratio = f"{med / base:10.2f}" if base else ""
            print(f"{kind:<12} {med:11.0f} {min(samples[kind]):7.0f} {max(samples[kind]):7.0f} {ratio}")


if __name__ == "__main__":
    main()
