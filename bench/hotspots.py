"""Where a request's time goes: profile one kind of request in-process (no HTTP server, no wrk).

    python bench/hotspots.py start                 # pyinstrument when installed, else cProfile
    python bench/hotspots.py receipt --count 3000 --cprofile

Kinds: healthz, readyz, start, check_wrong, check_right, answer, receipt. The app is built with the
benchmark's settings on a redis-server of its own; the requests are the very lines the HTTP
benchmark sends (seed.py), replayed through Flask's test client.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from app import create_app
from bench import seed
from bench.common import RedisServer, app_settings, quiet


def requests_for(kind: str, client: redis.Redis, app, count: int, base: str) -> list[list[str]]:
    service = app.extensions["verification"]
    settings, vault = service.settings, service.vault
    if kind == "healthz":
        lines = list(seed.healthz_lines())
    elif kind == "readyz":
        lines = list(seed.readyz_lines())
    elif kind == "start":
        lines = list(seed.start_lines())
    elif kind == "check_wrong":
        lines = list(
            seed.check_lines(seed.seed(client, settings, vault, count // 50 + 1, first_number=2000), right=False)
        )
    elif kind == "check_right":
        lines = list(seed.check_lines(seed.seed(client, settings, vault, count, first_number=2000), right=True))
    elif kind == "answer":
        lines = list(seed.answer_lines(seed.seed(client, settings, vault, count, "call", first_number=2000), base))
    else:
        lines = list(seed.receipt_lines(seed.seed(client, settings, vault, count, first_number=2000), base))
    return [ln.split("\t") for ln in lines]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=seed.KINDS)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--cprofile", action="store_true", help="use cProfile even when pyinstrument is installed")
    args = p.parse_args(argv)
    with RedisServer() as server:
        config = app_settings(server.port, 5000)
        app = create_app(config)
        quiet()
        client = redis.Redis(port=server.port)
        lines = requests_for(args.kind, client, app, args.count + 20, config["PUBLIC_BASE_URL"])
        http = app.test_client()

        def send(i: int) -> None:
            method, path, body, *headers = lines[i % len(lines)]
            response = http.open(
                path, method=method, data=body, headers=dict(zip(headers[::2], headers[1::2], strict=True))
            )
            assert response.status_code < 300, (response.status_code, response.get_data(as_text=True))

        for i in range(20):  # warm-up: connection, script load, templates
            send(i)
        began = time.perf_counter()
        try:
            from pyinstrument import Profiler
        except ImportError:
            Profiler = None
        if Profiler is not None and not args.cprofile:
            profiler = Profiler(interval=0.0002)
            profiler.start()
            for i in range(20, 20 + args.count):
                send(i)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        else:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for i in range(20, 20 + args.count):
                send(i)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        elapsed = time.perf_counter() - began
        print(
            f"{args.count} {args.kind} requests in {elapsed:.2f} s: {elapsed / args.count * 1e6:.0f} µs each (profiled)"
        )


if __name__ == "__main__":
    main()
