"""What this machine allows at all: a Flask app with no project code, served and loaded as run.py does.

    python bench/calibrate.py                  # the Procfile's server model, 5 runs of 8 s
    python bench/calibrate.py --model sync-4 --runs 3

The app has one route, /healthz, returning a constant JSON object (bench/bare_app.py). It runs under
a server model of bench/servers.py (the Procfile's by default), loaded by the same wrk command
and request replay as run.py, at 16 connections (run.py measures it too, in the same run as ours).
Its p99 is the floor of any endpoint's p99 on this machine: if the bare app alone misses a latency
target, no code of ours can meet it.
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
from bench.servers import MODELS, Served

BARE_APP = "bench.bare_app:create_app()"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="load generator threads (2)")
    p.add_argument("--model", default="procfile", choices=list(MODELS), help="server model (bench/servers.py)")
    args = p.parse_args(argv)
    port = free_port()
    command = MODELS[args.model].argv(BARE_APP, port)
    print("server:", " ".join(command))
    server = Served(command, clean_environ({}), port, Path(tempfile.mkdtemp(prefix="bench-bare-")) / "server.log")
    server.start()
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
