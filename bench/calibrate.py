"""What this machine allows at all: a Flask app with no project code, served and loaded as run.py does.

    python bench/calibrate.py                  # the Procfile's worker model, 5 runs of 8 s
    python bench/calibrate.py --workers 2 --runs 3

The app has one route returning a constant JSON object (bench/bare_app.py). It runs under gunicorn
with the worker options of the Procfile's `web:` line (or those given), loaded by the same wrk
command and request replay as run.py, at 16 connections. Its p99 is the floor of any endpoint's
p99 on this machine: if the bare app alone misses a latency target, no code of ours can meet it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen, seed
from bench.common import ROOT, clean_environ, free_port, stop_process_group
from bench.run import procfile_command


def bare_command(port: int, workers: int | None, worker_class: str | None) -> list[str]:
    """The Procfile's gunicorn options, with the bare app in place of ours."""
    command = [part for part in procfile_command() if part != "app:create_app()"]
    command += ["bench.bare_app:app", "--bind", f"127.0.0.1:{port}"]
    if workers:
        command += ["--workers", str(workers)]
    if worker_class:
        command += ["--worker-class", worker_class]
    return command


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int)
    p.add_argument("--worker-class")
    args = p.parse_args(argv)
    port = free_port()
    command = bare_command(port, args.workers, args.worker_class)
    print("gunicorn:", " ".join(command))
    server = subprocess.Popen(command, cwd=ROOT, env=clean_environ({}), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/bare", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the bare app did not start") from None
                time.sleep(0.1)
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write(seed.line("GET", "/bare") + "\n")
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
        stop_process_group(server)


if __name__ == "__main__":
    main()
