"""What this machine allows at all: a Flask app with no project code, served and loaded as run.py does.

    python bench/calibrate.py                  # the Procfile's worker model, 5 runs of 8 s
    python bench/calibrate.py --workers 2 --runs 3

The app has one route, /healthz, returning a constant JSON object (bench/bare_app.py). It runs under
gunicorn with the worker options of the Procfile's `web:` line (or those given), loaded by the same wrk
command and request replay as run.py, at 16 connections. Its p99 is the floor of any endpoint's
p99 on this machine: if the bare app alone misses a latency target, no code of ours can meet it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen, seed
from bench.common import clean_environ, free_port
from bench.run import Gunicorn, gunicorn_command

BARE_APP = "bench.bare_app:app"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="load generator threads (2)")
    p.add_argument("--workers", type=int, help="override the Procfile: gunicorn --workers")
    p.add_argument("--worker-class", help="override the Procfile: sync or gthread")
    p.add_argument("--worker-threads", type=int, help="override the Procfile: gunicorn --threads")
    args = p.parse_args(argv)
    port = free_port()
    # The Procfile's gunicorn options, as run.py builds them, with the bare app in place of ours.
    command = [BARE_APP if part == "app:create_app()" else part for part in gunicorn_command(args, port)]
    print("gunicorn:", " ".join(command))
    server = Gunicorn(command, clean_environ({}), Path(tempfile.mkdtemp(prefix="bench-bare-")) / "gunicorn.log")
    server.start(port)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write(seed.line("GET", "/healthz") + "\n")
            requests = Path(f.name)
        base = f"http://127.0.0.1:{port}"
        loadgen.run(base, requests, duration=2, connections=args.connections, threads=args.threads)  # warm-up
        runs = []
        for _ in range(args.runs):
            load = loadgen.run(
                base, requests, duration=args.duration, connections=args.connections, threads=args.threads
            )
            runs.append(load)
            print(f"  {load.rps:8,.0f} req/s  p50 {load.p50_ms:6.2f} ms  p90 {load.p90_ms:6.2f} ms  "
                  f"p99 {load.p99_ms:6.2f} ms  max {load.max_ms:7.2f} ms  errors {load.errors}")  # fmt: skip
        print(
            f"median of {len(runs)}: {statistics.median(r.rps for r in runs):,.0f} req/s, "
            f"p50 {statistics.median(r.p50_ms for r in runs):.2f} ms, "
            f"p99 {statistics.median(r.p99_ms for r in runs):.2f} ms (min {min(r.p99_ms for r in runs):.2f}, "
            f"max {max(r.p99_ms for r in runs):.2f})"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
