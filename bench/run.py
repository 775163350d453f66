"""The benchmark: one command, everything started here and stopped here (at most 15 minutes).

    python bench/run.py                         # everything, the Procfile's server model for the tables
    python bench/run.py --models sync-4,granian-2x64 --skip-peers --label try

It starts a redis-server of its own (free loopback port, no persistence) and `bench/fake_provider.py`
(the Twilio and Plivo REST APIs, answering after 300 ms, 1 % after 2 s), then:

1. counts Redis round trips per operation, in-process;
2. real-world load (bench/realworld.py) under each server model of `--models` (bench/servers.py):
   starts through the real adapters to the fake provider, alone, then beside checks and webhooks,
   then with Twilio stalled at 4 s;
3. under the Procfile's server model: `--runs` rounds over /healthz, /readyz (one Redis PING and
   nothing else: the one-round-trip floor), wrong and right checks, answer URLs and receipts, each
   endpoint's ratio taken to /readyz and /healthz of the same round, every state change read back
   from Redis and compared with wrk's count;
4. a Flask app with no code of ours (bench/bare_app.py) under the same server and load: the p99
   floor of this machine;
5. the SignalWire tutorial's /validate-auth against ours at 1k, 100k and 1M pending (bench/peers/);
6. with `--scale`: check latency with 1k and 1M pending, and memory per pending verification.

It prints PASS or MISS for each target of bench/RESULTS.md and writes bench/out/<label>.json and
.md. Everything started is stopped at the end (by process group), also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import loadgen, memory, realworld, roundtrips, seed
from bench.calibrate import BARE_APP
from bench.common import (
    CLK_TCK,
    ROOT,
    RedisServer,
    app_settings,
    busy_ticks,
    children_ticks,
    clean_environ,
    cpu_ticks,
    free_port,
)
from bench.fake_provider import FakeProvider
from bench.servers import APP, MODELS, Served
from telephony.codes import CodeVault
from telephony.config import load_settings
from telephony.store import keys

OUT = Path(__file__).resolve().parent / "out"
TITLES = {
    "healthz": "GET /healthz (ceiling)",
    "readyz": "GET /readyz (one Redis round trip, nothing else: the floor's reference)",
    "start": "POST /v1/verifications (console)",
    "bare": "bare Flask app, /healthz (no code of ours: the p99 floor)",
    "check_wrong": "check, wrong code",
    "check_right": "check, right code (approves)",
    "answer": "answer URL (Twilio, signed)",
    "receipt": "delivery receipt (Twilio, signed)",
}
# Each against /readyz of the same round: one Redis round trip and nothing else.
TARGET_TO_FLOOR = {"check_wrong": 0.9, "check_right": 0.9, "answer": 0.9}
P99_TO_BARE = 1.5  # a check's p99 at 16 connections, against the bare Flask app's in the same run
MIN_STARTS = 100.0  # per second with the 300 ms provider, on this 2-core machine
ENDPOINTS = ["healthz", "readyz", "check_wrong", "check_right", "answer", "receipt"]
WRONG_CHECKS_PER_VERIFICATION = 80  # of the 100 allowed (OTP_MAX_CHECKS)


@dataclass
class Sample:
    endpoint: str
    round: int  # -1: warm-up
    rps: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int
    worker_cpu_us: float  # per request, all gunicorn processes
    redis_cpu_us: float
    other_cores: float = 0.0  # CPU used meanwhile by processes not in the benchmark (other jobs)
    steal_cores: float = 0.0  # CPU the hypervisor took
    effects: int | None = None  # state changes found in Redis afterwards (None: not checked)
    pool: int | None = None
    phase: str = "main"


class Bench:
    def __init__(self, args: argparse.Namespace, redis_server: RedisServer, workdir: Path, db: int = 0) -> None:
        self.args = args
        self.redis_server = redis_server
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = {**app_settings(redis_server.port, self.port), "REDIS_URL": f"{redis_server.url[:-2]}/{db}"}
        settings = load_settings(self.config)
        self.settings = settings
        self.vault = CodeVault(settings.secret_key)
        self.client = redis.Redis(port=redis_server.port, db=db, decode_responses=True)
        self.samples: list[Sample] = []
        self.estimate: dict[str, float] = {}
        self.next_number = 1000  # seeded verifications get numbers the starts do not use
        self.redis_pid = redis_server.process.pid if redis_server.process else 0
        self.server: Served | None = None
        self.fixed: dict[str, list[str]] = {}  # requests reused by every run (the scale part)

    # --- requests per endpoint ----------------------------------------------------------------

    def _pool(self, endpoint: str, per_verification: int = 1) -> int:
        """Enough verifications for the coming run: the fastest rate seen so far (this endpoint's
        or the ceiling's), times the duration, times 1.5."""
        rate = max(self.estimate.get(endpoint, 0.0), self.estimate.get("healthz", 3000.0))
        duration = self.args.warmup if endpoint not in self.estimate else self.args.duration
        return max(64, math.ceil(rate * duration * 1.5 / per_verification))

    def _seed(self, count: int, mode: str = "sms") -> list[seed.Seeded]:
        made = seed.seed(self.client, self.settings, self.vault, count, mode, first_number=self.next_number)
        self.next_number += count
        return made

    def prepare(self, endpoint: str) -> tuple[Iterable[str], list[seed.Seeded] | None]:
        if endpoint in self.fixed:
            return self.fixed[endpoint], None
        if endpoint in ("healthz", "bare"):
            return seed.healthz_lines(), None
        if endpoint == "readyz":
            return seed.readyz_lines(), None
        if endpoint == "start":
            return seed.start_lines(), None
        if endpoint == "check_wrong":
            pool = self._seed(self._pool(endpoint, WRONG_CHECKS_PER_VERIFICATION))
            return seed.check_lines(pool, right=False), pool
        if endpoint == "check_right":
            pool = self._seed(self._pool(endpoint))
            return seed.check_lines(pool, right=True), pool
        if endpoint == "answer":
            pool = self._seed(self._pool(endpoint), mode="call")
            return seed.answer_lines(pool, self.base), pool
        if endpoint == "receipt":
            pool = self._seed(self._pool(endpoint))
            return seed.receipt_lines(pool, self.base), pool
        raise ValueError(endpoint)

    def effects(self, endpoint: str, pool: list[seed.Seeded]) -> int:
        """How many requests of the run changed what they should have, read back from Redis."""
        pipe = self.client.pipeline(transaction=False)
        for s in pool:
            pipe.hmget(keys.verification(s.id), "s", "k", "p", "a0")  # field names: store/record.py
        rows = pipe.execute()
        if endpoint == "check_right":
            return sum(r[0] == "approved" for r in rows)
        if endpoint == "check_wrong":
            return sum(self.settings.otp_max_checks - int(r[1]) for r in rows if r[1] is not None)
        if endpoint == "answer":
            return sum(int(r[2] or 0) for r in rows)
        if endpoint == "receipt":
            return sum("|delivered|" in (r[3] or "") for r in rows)
        raise ValueError(endpoint)

    # --- one run --------------------------------------------------------------------------------

    def wait_quiet(self) -> None:
        """With --quiet-wait: wait (bounded) until other processes use under 0.25 of a core."""
        deadline = time.monotonic() + self.args.quiet_wait
        while True:
            before = busy_ticks()[0]
            time.sleep(1.0)
            other = (busy_ticks()[0] - before) / CLK_TCK
            if other < 0.25 or time.monotonic() > deadline:
                return
            print(f"  (waiting: other processes use {other:.2f} cores)", flush=True)

    def run_one(self, endpoint: str, round_no: int, duration: float, phase: str = "main") -> Sample:
        lines, pool = self.prepare(endpoint)
        request_file = self.workdir / f"{endpoint}-{self.port}.tsv"
        request_file.write_text("\n".join(lines) + "\n")
        assert self.server is not None
        pids = self.server.pids()
        if self.args.quiet_wait:
            self.wait_quiet()
        else:
            time.sleep(0.3)  # let the seeding's Redis work settle
        before = sum(cpu_ticks(p) for p in pids), cpu_ticks(self.redis_pid), children_ticks(), *busy_ticks()
        began = time.monotonic()
        load = loadgen.run(self.base, request_file, duration=duration,
                           connections=self.args.connections, threads=self.args.threads)  # fmt: skip
        wall = time.monotonic() - began
        after = sum(cpu_ticks(p) for p in pids), cpu_ticks(self.redis_pid), children_ticks(), *busy_ticks()
        per = 1e6 / CLK_TCK / max(1, load.requests)
        ours = sum(after[i] - before[i] for i in range(3))
        other = max(0.0, (after[3] - before[3] - ours) / CLK_TCK / wall)
        steal = (after[4] - before[4]) / CLK_TCK / wall
        sample = Sample(
            endpoint, round_no, load.rps, load.requests, load.p50_ms, load.p90_ms, load.p99_ms, load.max_ms,
            load.errors, load.non_2xx, (after[0] - before[0]) * per, (after[1] - before[1]) * per,
            other_cores=other, steal_cores=steal,
            effects=self.effects(endpoint, pool) if pool is not None else None,
            pool=len(pool) if pool is not None else None, phase=phase,
        )  # fmt: skip
        self.estimate[endpoint] = max(self.estimate.get(endpoint, 0.0), load.rps)
        self.samples.append(sample)
        label = "warm-up" if round_no < 0 else f"round {round_no + 1}"
        extra = f" effects {sample.effects}/{sample.requests}" if sample.effects is not None else ""
        print(f"  {phase:>5} {label:>8} {endpoint:<12} {load.rps:8.0f} req/s  p50 {load.p50_ms:6.2f} ms"
              f"  p99 {load.p99_ms:6.2f} ms  non-2xx {load.non_2xx} errors {load.errors}"
              f"  cpu/req {sample.worker_cpu_us:.0f}+{sample.redis_cpu_us:.0f} µs"
              f"  other {other:.2f} cores{extra}", flush=True)  # fmt: skip
        return sample

    def rounds(self, endpoints: list[str], runs: int, duration: float, phase: str = "main") -> None:
        for r in range(runs):
            shift = r % len(endpoints)
            for endpoint in endpoints[shift:] + endpoints[:shift]:
                self.run_one(endpoint, r, duration, phase)


# --- summaries ------------------------------------------------------------------------------------


@dataclass
class Row:
    endpoint: str
    phase: str
    rps: float
    rps_min: float
    rps_max: float
    ratio: float  # to /healthz of the same round
    to_floor: float  # to /readyz of the same round (one Redis round trip, nothing else)
    to_floor_min: float
    to_floor_max: float
    p50_ms: float
    p99_ms: float
    p99_max_ms: float
    worker_cpu_us: float
    redis_cpu_us: float
    non_2xx: int
    errors: int
    other_cores: float = 0.0
    effects: str = ""


def summarise(samples: list[Sample], phase: str) -> list[Row]:
    timed = [s for s in samples if s.round >= 0 and s.phase == phase]
    ceiling = {s.round: s.rps for s in timed if s.endpoint == "healthz"}
    floor = {s.round: s.rps for s in timed if s.endpoint == "readyz"}
    rows = []
    for endpoint in dict.fromkeys(s.endpoint for s in timed):
        mine = [s for s in timed if s.endpoint == endpoint]
        ratios = [s.rps / ceiling[s.round] for s in mine if ceiling.get(s.round)] or [0.0]
        to_floor = [s.rps / floor[s.round] for s in mine if floor.get(s.round)] or [0.0]
        rps = [s.rps for s in mine]
        row = Row(
            endpoint, phase, statistics.median(rps), min(rps), max(rps), statistics.median(ratios),
            statistics.median(to_floor), min(to_floor), max(to_floor),
            statistics.median(s.p50_ms for s in mine), statistics.median(s.p99_ms for s in mine),
            max(s.p99_ms for s in mine), statistics.median(s.worker_cpu_us for s in mine),
            statistics.median(s.redis_cpu_us for s in mine), sum(s.non_2xx for s in mine),
            sum(s.errors for s in mine), max(s.other_cores for s in mine),
        )  # fmt: skip
        checked = [s for s in mine if s.effects is not None]
        if checked:
            row.effects = f"{sum(s.effects or 0 for s in checked)}/{sum(s.requests for s in checked)}"
        rows.append(row)
    return rows


def markdown(rows: list[Row], title: Callable[[Row], str]) -> str:
    out = ["| endpoint | req/s median (min-max) | to /readyz median (min-max) | to /healthz | p50 ms"
           " | p99 ms median (max) | CPU µs/req server + redis | non-2xx / errors | other load (cores, max)"
           " | effects |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        out.append(
            f"| {title(r)} | {r.rps:,.0f} ({r.rps_min:,.0f}-{r.rps_max:,.0f}) | **{r.to_floor:.2f}** "
            f"({r.to_floor_min:.2f}-{r.to_floor_max:.2f}) | {r.ratio:.2f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} ({r.p99_max_ms:.2f}) | {r.worker_cpu_us:.0f} + {r.redis_cpu_us:.0f} | "
            f"{r.non_2xx} / {r.errors} | {r.other_cores:.2f} | {r.effects or '—'} |"
        )
    return "\n".join(out)


def targets(result: dict) -> list[tuple[str, bool, str]]:
    """(target, met, what was measured) for every target of bench/RESULTS.md this run measured."""
    out: list[tuple[str, bool, str]] = []
    rows = {r["endpoint"]: r for r in result["rows"] if r["phase"] == "main"}
    for endpoint, share in TARGET_TO_FLOOR.items():
        if endpoint in rows:
            r = rows[endpoint]
            out.append((f"{endpoint}: ≥ {share:g} of /readyz's req/s", r["to_floor"] >= share,
                        f"{r['to_floor']:.2f} (rounds {r['to_floor_min']:.2f}-{r['to_floor_max']:.2f})"))  # fmt: skip
    trips = {c["operation"]: c["round_trips"] for c in result["roundtrips"]}
    for operation in ("check (wrong)", "check (right)", "answer URL"):
        out.append((f"{operation}: one Redis round trip", trips.get(operation) == 1, str(trips.get(operation))))
    if "check_wrong" in rows and "bare" in rows:
        check, bare = rows["check_wrong"]["p99_ms"], rows["bare"]["p99_ms"]
        factor = check / max(bare, 1e-9)
        factor = check / max(bare, 1e-9)
        out.append((f"check p99 at {result['args']['connections']} connections ≤ {P99_TO_BARE:g}x the bare app's",
                    check <= P99_TO_BARE * bare, f"{check:.1f} ms vs {bare:.1f} ms ({factor:.2f}x)"))  # fmt: skip
    chosen = result.get("realworld", {}).get("procfile")  # the targets are the deployed model's
    if chosen:
        for name, met, measured in realworld.verdicts(loaded_phases(chosen), result["provider_timeout"], MIN_STARTS):
            out.append((f"Procfile's model: {name}", met, measured))
    return out


def loaded_phases(phases: list[dict]) -> list[realworld.Phase]:
    def kinds(p: dict) -> dict[str, realworld.Kind]:
        return {k: realworld.Kind(**v) for k, v in p["kinds"].items()}

    return [realworld.Phase(**{**p, "kinds": kinds(p)}) for p in phases]


def models_table(result: dict) -> str:
    """One row per server model: what the real-world phases say, side by side."""
    out = ["| model | starts/s (300 ms provider) | quiet mix req/s | worst p99 ratio, mixed to quiet (check, answer,"
           " receipt) | worst p99 with the provider stalled, ms | server CPU cores (quiet) | other load, max |",
           "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for model, phases in result.get("realworld", {}).items():
        by = {p.phase: p for p in loaded_phases(phases)}
        summary = realworld.summary(model, list(by.values()))
        quiet_mix = sum(k.rps for k in by["quiet"].kinds.values())
        other = max(p.other_cores for p in by.values())
        answered = all(k.requests for k in by["stalled"].kinds.values())
        stalled = f"{summary['stalled_p99_ms']:,.0f}" if answered else "some kinds got no answer"
        out.append(f"| {model} | {summary['starts_per_s']:,.0f} | {quiet_mix:,.0f} | {summary['mixed_p99_ratio']:.2f} "
                   f"| {stalled} | {by['quiet'].server_cores:.2f} | {other:.2f} |")  # fmt: skip
    return "\n".join(out)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {"python": platform.python_version()}
    for name in ("flask", "werkzeug", "jinja2", "gunicorn", "redis", "twilio", "phonenumbers", "cryptography"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = "missing"
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
    found["redis-server"] = out.split("v=")[1].split()[0] if "v=" in out else out.strip()
    found["load generator"] = loadgen.wrk_version() if loadgen.wrk_available() else "python (bench/loadgen.py)"
    return found


def revision() -> str:
    """The commit measured, and whether files outside bench/ differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    changed = [ln for ln in git("status", "--porcelain", "--untracked-files=no").splitlines() if " bench/" not in ln]
    return git("rev-parse", "--short", "HEAD") + (f" (+{len(changed)} modified files)" if changed else "")


def machine() -> dict[str, str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    debian = Path("/etc/debian_version")
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{int(mem) / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "os": f"Debian {debian.read_text().strip()}" if debian.exists() else platform.platform(),
    }


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measured run (6)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of the warm-up run per endpoint (2)")
    p.add_argument("--runs", type=int, default=3, help="rounds over every endpoint (3)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="load generator threads (2)")
    p.add_argument("--model", default="procfile", choices=list(MODELS),
                   help="the server model of the endpoint table (bench/servers.py)")  # fmt: skip
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="server models under real-world load, comma-separated ('' skips it)")  # fmt: skip
    p.add_argument("--realworld-duration", type=float, default=6.0, help="seconds per real-world phase (6)")
    p.add_argument("--start-connections", type=int, default=48, help="starts in flight at once (48)")
    p.add_argument("--skip-peers", action="store_true", help="no seed-versus-ours comparison")
    p.add_argument("--scale", action="store_true", help="also check latency at 1k / 1M pending and memory")
    p.add_argument("--scale-duration", type=float, default=5.0, help="seconds per run at 1k / 1M pending (5)")
    p.add_argument("--pending", type=int, default=1_000_000, help="verifications pending in the large case")
    p.add_argument("--quiet-wait", type=float, default=0.0,
                   help="on a shared machine: wait up to this many seconds before each run for other"
                        " processes to go quiet (0: do not wait)")  # fmt: skip
    p.add_argument("--label", default="procfile", help="names bench/out/<label>.{json,md}")
    return p.parse_args(argv)


DEFAULT_MODELS = ["procfile", "sync-4", "gthread-4x32", "gevent-4", "granian-2x64"]  # procfile: granian 4x32


def served(bench: Bench, args: argparse.Namespace, target: str, name: str) -> Served:
    command = MODELS[args.model].argv(target, bench.port)
    return Served(command, clean_environ(bench.config), bench.port, bench.workdir / f"{name}.log")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    OUT.mkdir(exist_ok=True)
    print(f"load generator: {versions()['load generator']}; work files in {workdir}")
    with RedisServer() as server, FakeProvider() as provider:
        bench = Bench(args, server, workdir)
        print("round trips per operation (in-process, counted at the redis-py connection):")
        trips = roundtrips.measure(server.url, http_port=bench.port)
        print(roundtrips.table(trips))
        memory.flush(server.client())
        command = MODELS[args.model].argv(APP, bench.port)
        result: dict = {"machine": machine(), "versions": versions(), "args": vars(args), "server": command,
                        "revision": revision(), "provider_timeout": bench.settings.provider_timeout,
                        "wrk": loadgen.wrk_command(bench.base, Path("<requests.tsv>"), duration=args.duration,
                                                   connections=args.connections, threads=args.threads)}  # fmt: skip
        result["roundtrips"] = [
            {"operation": c.operation, "round_trips": c.n, "commands": c.trips, "status": c.status} for c in trips
        ]
        if args.models:
            world = realworld.RealWorld(server, provider, workdir, duration=args.realworld_duration,
                                        start_connections=args.start_connections)  # fmt: skip
            result["realworld"] = {}
            for name in args.models.split(","):
                result["realworld"][name] = realworld.as_json(world.run_model(MODELS[name]))
            memory.flush(server.client())
        print("server:", shlex.join(command))
        bench.server = served(bench, args, APP, "app")
        try:
            bench.server.start()
            result["server_processes"] = len(bench.server.pids())
            for endpoint in ENDPOINTS:  # /healthz first: its rate sizes the other pools
                bench.run_one(endpoint, -1, args.warmup)
            bench.rounds(ENDPOINTS, args.runs, args.duration)
        finally:
            bench.server.stop()
        # The p99 floor: the same server and load, and an app with one constant route.
        bench.server = served(bench, args, BARE_APP, "bare")
        try:
            bench.server.start()
            bench.run_one("bare", -1, args.warmup)
            for r in range(args.runs):
                bench.run_one("bare", r, args.duration)
        finally:
            bench.server.stop()
        if not args.skip_peers:
            from bench.peers import compare

            result["peers"] = compare.run(server)
        if args.scale:
            result["scale"] = scale(bench, args)
            mem = memory.measure_memory(server.url)
            result["memory"] = asdict(mem)
            print(f"memory per pending verification: {mem.bytes_per_verification:.0f} bytes ({mem.encoding})")
    result["samples"] = [asdict(s) for s in bench.samples]
    result["rows"] = [asdict(r) for r in summarise(bench.samples, "main")]
    for phase in ("1k", "1M"):
        if any(s.phase == phase for s in bench.samples):
            result["rows"] += [asdict(r) for r in summarise(bench.samples, phase)]
    result["seconds"] = round(time.monotonic() - began)
    result["targets"] = [{"target": t, "met": m, "measured": x} for t, m, x in targets(result)]
    text = report(result)
    (OUT / f"{args.label}.json").write_text(json.dumps(result, indent=1, default=str))
    (OUT / f"{args.label}.md").write_text(text)
    print(text)
    print_targets(result)
    print(f"written: {OUT / (args.label + '.md')} and .json ({result['seconds']} s in all)")


def scale(bench: Bench, args: argparse.Namespace) -> dict:
    """Wrong-code checks with 1k and with `args.pending` pending verifications, side by side.

    Redis database 1 holds 1k pending verifications and database 2 holds `args.pending`; one
    gunicorn (same command) serves each. Rounds alternate between them, each with its own ceiling
    run, so a change in the machine's load falls on both; then the in-process comparison, also
    interleaved. One pool of wrong-check verifications per database serves all of its runs.
    """
    rate = bench.estimate.get("check_wrong", 3000.0)
    size = math.ceil(rate * args.scale_duration * args.runs * 2 / WRONG_CHECKS_PER_VERIFICATION)
    small_url, large_url, filled = memory.fill_databases(bench.redis_server.url, 1000, args.pending, 300 + size)
    print(f"scale: filled {args.pending:,} in {filled:.0f} s")
    sides = []
    for db, phase in ((1, "1k"), (2, "1M")):
        side = Bench(args, bench.redis_server, bench.workdir, db=db)
        side.estimate = dict(bench.estimate)
        side.fixed["check_wrong"] = list(seed.check_lines(side._seed(size), right=False))
        side.server = served(side, args, APP, f"app-{phase}")
        sides.append((side, phase))
    try:
        for side, _ in sides:
            assert side.server is not None
            side.server.start()
        for side, phase in sides:
            side.run_one("check_wrong", -1, args.warmup, phase)
        for r in range(args.runs):
            for side, phase in sides if r % 2 == 0 else sides[::-1]:
                side.rounds(["healthz", "check_wrong"] if r % 2 == 0 else ["check_wrong", "healthz"], 1,
                            args.scale_duration, phase)  # fmt: skip
                for sample in side.samples[-2:]:
                    sample.round = r
    finally:
        for side, _ in sides:
            if side.server is not None:
                side.server.stop()
    for side, _ in sides:
        bench.samples += [s for s in side.samples if s.round >= 0]
    pending = [memory.pending_count(small_url), memory.pending_count(large_url)]
    print(f"scale: {pending[0]:,} and {pending[1]:,} pending; in-process comparison")
    small, large = memory.compare_checks(small_url, large_url)
    return {"in_process": [asdict(small), asdict(large)], "pending_small_http": pending[0],
            "pending_large": pending[1], "fill_seconds": filled}  # fmt: skip


def report(result: dict) -> str:
    rows = [Row(**r) for r in result["rows"]]
    lines = [f"Commit: {result.get('revision')}", f"Machine: {', '.join(result['machine'].values())}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
             f"server: `{shlex.join(result['server'][2:])}` ({result.get('server_processes')} processes)",
             f"load: `{shlex.join(result['wrk'])}`", ""]  # fmt: skip
    lines += ["Targets:", "", "| | target | measured |", "| --- | --- | --- |"]
    lines += [f"| {'PASS' if t['met'] else '**MISS**'} | {t['target']} | {t['measured']} |" for t in result["targets"]]
    if result.get("realworld"):
        phases = [p for ps in result["realworld"].values() for p in loaded_phases(ps)]
        lines += ["", "Server models under real-world load (`procfile`: the Procfile's):", "", models_table(result)]
        lines += ["", "Real-world load (bench/realworld.py; starts through the adapters to the fake provider):", "",
                  realworld.markdown(phases)]  # fmt: skip
    lines += ["", f"Endpoints under `{result['args']['model']}`, {result['args']['connections']} connections:", ""]
    lines.append(markdown([r for r in rows if r.phase == "main"], lambda r: TITLES[r.endpoint]))
    lines += ["", "Round trips per operation:", "", roundtrips.table(
        [roundtrips.Count(c["operation"], c["commands"], c["status"]) for c in result["roundtrips"]])]  # fmt: skip
    if "peers" in result:
        from bench.peers import compare

        lines += ["", compare.markdown(result["peers"])]
    if "scale" in result:
        sc = result["scale"]
        lines += ["", f"Check latency with few and many pending verifications ({sc['pending_small_http']:,} and"
                      f" {sc['pending_large']:,}):", ""]  # fmt: skip
        lines.append(markdown([r for r in rows if r.phase != "main"], lambda r: f"{TITLES[r.endpoint]}, {r.phase}"))
        small, large = (memory.CheckLatency(**c) for c in sc["in_process"])
        lines += ["", "In-process (test client, no HTTP):", ""]
        if "memory" in result:
            m = dict(result["memory"])
            m["longest_field"] = tuple(m["longest_field"])
            lines.append(memory.report(memory.Memory(**m), small, large))
    return "\n".join(lines) + "\n"


def print_targets(result: dict) -> None:
    for t in result["targets"]:
        print(f"{'PASS' if t['met'] else 'MISS'}  {t['target']}: {t['measured']}")


if __name__ == "__main__":
    main()
