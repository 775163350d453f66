"""The benchmark: one command, everything started here and stopped here.

    python bench/run.py                      # the Procfile's web: line as it is (~6 minutes)
    python bench/run.py --workers 2 --worker-class gthread --worker-threads 4 --label gthread-2x4

It starts a redis-server of its own (free loopback port, no persistence) and the app under gunicorn
with the Procfile's `web:` command (plus `--bind 127.0.0.1:<free port>`, and the worker options
given here, if any), counts Redis round trips per operation in-process, then drives load with wrk
(bench/replay.lua; a Python load generator when wrk is missing), every run bounded in time:

- a warm-up run of each endpoint, then `--runs` rounds; each round runs every endpoint once (the
  order rotates), /healthz included (and /readyz: one Redis round trip and nothing else, the
  best any one-round-trip endpoint can do), so each endpoint's ratio to the ceiling comes from
  the same round; the table gives medians over rounds (and min-max);
- requests that change state use fresh verifications: each right check, answer URL and receipt
  of a run is for a verification of its own (seed.py writes them just before the run), wrong
  checks share verifications allowing 100 wrong codes each; after each run the effects are read
  back from Redis (approved, spoken, delivered, wrong codes counted) and compared with wrk's count;
- then check latency with 1k and with 1M pending verifications (HTTP and in-process), and the
  memory per pending verification (100k written).

Results: printed, and written to bench/out/<label>.json and .md. Everything started is stopped at
the end (by pid), also on Ctrl-C.
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
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import loadgen, memory, roundtrips, seed
from bench.common import (
    CLK_TCK,
    ROOT,
    RedisServer,
    app_settings,
    busy_ticks,
    children,
    children_ticks,
    clean_environ,
    cpu_ticks,
    free_port,
    stop_process_group,
)
from telephony.codes import CodeVault
from telephony.config import load_settings
from telephony.store import keys

OUT = Path(__file__).resolve().parent / "out"
TITLES = {
    "healthz": "GET /healthz (ceiling)",
    "readyz": "GET /readyz (one Redis round trip, nothing else: the floor's reference)",
    "start": "POST /v1/verifications (console)",
    "check_wrong": "check, wrong code",
    "check_right": "check, right code (approves)",
    "answer": "answer URL (Twilio, signed)",
    "receipt": "delivery receipt (Twilio, signed)",
}
TARGET_RATIO = {"check_wrong": 0.65, "check_right": 0.65, "answer": 0.5, "receipt": 0.5, "start": 0.45}
P99_LIMIT_MS = 25.0
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


@dataclass
class Gunicorn:
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self, port: int) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {self.log}")
            time.sleep(0.1)
        time.sleep(0.5)  # every worker booted

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None


def procfile_command() -> list[str]:
    """The Procfile's web: command, with `gunicorn` run from this Python."""
    for raw in (ROOT / "Procfile").read_text().splitlines():
        if raw.startswith("web:"):
            argv = shlex.split(raw.removeprefix("web:"))
            if argv[0] == "gunicorn":
                return [sys.executable, "-m", "gunicorn", *argv[1:]]
            return argv
    raise SystemExit("Procfile has no web: line")


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
        self.gunicorn: Gunicorn | None = None
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
        if endpoint == "healthz":
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
        assert self.gunicorn is not None
        pids = self.gunicorn.pids()
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
    ratio: float
    ratio_min: float
    ratio_max: float
    p50_ms: float
    p99_ms: float
    p99_max_ms: float
    worker_cpu_us: float
    redis_cpu_us: float
    non_2xx: int
    errors: int
    other_cores: float = 0.0
    effects: str = ""
    verdict: list[str] = field(default_factory=list)


def summarise(samples: list[Sample], phase: str) -> list[Row]:
    timed = [s for s in samples if s.round >= 0 and s.phase == phase]
    ceiling = {s.round: s.rps for s in timed if s.endpoint == "healthz"}
    rows = []
    for endpoint in dict.fromkeys(s.endpoint for s in timed):
        mine = [s for s in timed if s.endpoint == endpoint]
        ratios = [s.rps / ceiling[s.round] for s in mine if ceiling.get(s.round)]
        rps = [s.rps for s in mine]
        row = Row(
            endpoint, phase, statistics.median(rps), min(rps), max(rps),
            statistics.median(ratios), min(ratios), max(ratios),
            statistics.median(s.p50_ms for s in mine), statistics.median(s.p99_ms for s in mine),
            max(s.p99_ms for s in mine), statistics.median(s.worker_cpu_us for s in mine),
            statistics.median(s.redis_cpu_us for s in mine), sum(s.non_2xx for s in mine),
            sum(s.errors for s in mine), max(s.other_cores for s in mine),
        )  # fmt: skip
        checked = [s for s in mine if s.effects is not None]
        if checked:
            row.effects = f"{sum(s.effects or 0 for s in checked)}/{sum(s.requests for s in checked)}"
        if endpoint in TARGET_RATIO and phase == "main":
            ok = row.ratio >= TARGET_RATIO[endpoint]
            row.verdict.append(f"ratio ≥ {TARGET_RATIO[endpoint]}: {'met' if ok else 'MISSED'}")
        if endpoint != "healthz":
            ok = row.p99_ms < P99_LIMIT_MS
            row.verdict.append(f"p99 < {P99_LIMIT_MS:g} ms: {'met' if ok else 'MISSED'}")
        rows.append(row)
    return rows


def markdown(rows: list[Row], title: Callable[[Row], str]) -> str:
    out = ["| endpoint | req/s median (min-max) | ratio to ceiling median (min-max) | p50 ms | p99 ms median (max)"
           " | CPU µs/req gunicorn + redis | non-2xx / errors | other load (cores, max) | effects | targets |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        out.append(
            f"| {title(r)} | {r.rps:,.0f} ({r.rps_min:,.0f}-{r.rps_max:,.0f}) | **{r.ratio:.2f}** "
            f"({r.ratio_min:.2f}-{r.ratio_max:.2f}) | {r.p50_ms:.2f} | {r.p99_ms:.2f} ({r.p99_max_ms:.2f}) | "
            f"{r.worker_cpu_us:.0f} + {r.redis_cpu_us:.0f} | {r.non_2xx} / {r.errors} | {r.other_cores:.2f} | "
            f"{r.effects or '—'} | "
            f"{'; '.join(r.verdict) or '—'} |"
        )
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
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured run (8)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of the warm-up run per endpoint (2)")
    p.add_argument("--runs", type=int, default=3, help="rounds over every endpoint (3)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="load generator threads (2)")
    p.add_argument("--workers", type=int, help="override the Procfile: gunicorn --workers")
    p.add_argument("--worker-class", help="override the Procfile: sync or gthread")
    p.add_argument("--worker-threads", type=int, help="override the Procfile: gunicorn --threads")
    p.add_argument("--scale-duration", type=float, default=5.0, help="seconds per run at 1k / 1M pending (5)")
    p.add_argument("--pending", type=int, default=1_000_000, help="verifications pending in the large case")
    p.add_argument("--skip-scale", action="store_true", help="only the endpoint table and round trips")
    p.add_argument("--quiet-wait", type=float, default=0.0,
                   help="on a shared machine: wait up to this many seconds before each run for other"
                        " processes to go quiet (0: do not wait)")  # fmt: skip
    p.add_argument("--label", default="procfile", help="names bench/out/<label>.{json,md}")
    return p.parse_args(argv)


def gunicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [*procfile_command(), "--bind", f"127.0.0.1:{port}"]
    if args.workers:
        command += ["--workers", str(args.workers)]
    if args.worker_class:
        command += ["--worker-class", args.worker_class]
    if args.worker_threads:
        command += ["--threads", str(args.worker_threads)]
    return command


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    OUT.mkdir(exist_ok=True)
    print(f"load generator: {versions()['load generator']}; work files in {workdir}")
    with RedisServer() as server:
        bench = Bench(args, server, workdir)
        print("round trips per operation (in-process, counted at the redis-py connection):")
        trips = roundtrips.measure(server.url, http_port=bench.port)
        print(roundtrips.table(trips))
        memory.flush(server.client())
        command = gunicorn_command(args, bench.port)
        bench.gunicorn = Gunicorn(command, clean_environ(bench.config), workdir / "gunicorn.log")
        print("gunicorn:", shlex.join(command))
        result: dict = {"machine": machine(), "versions": versions(), "args": vars(args), "gunicorn": command,
                        "revision": revision(),
                        "wrk": loadgen.wrk_command(bench.base, Path("<requests.tsv>"), duration=args.duration,
                                                   connections=args.connections, threads=args.threads)}  # fmt: skip
        result["roundtrips"] = [
            {"operation": c.operation, "round_trips": c.n, "commands": c.trips, "status": c.status} for c in trips
        ]
        try:
            bench.gunicorn.start(bench.port)
            workers = len(bench.gunicorn.pids()) - 1
            print(f"gunicorn up: {workers} worker process(es)")
            result["worker_processes"] = workers
            for endpoint in seed.KINDS:  # /healthz first: its rate sizes the other pools
                bench.run_one(endpoint, -1, args.warmup)
            bench.rounds(seed.KINDS, args.runs, args.duration)
        finally:
            bench.gunicorn.stop()
        if not args.skip_scale:
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
    text = report(result)
    (OUT / f"{args.label}.json").write_text(json.dumps(result, indent=1, default=str))
    (OUT / f"{args.label}.md").write_text(text)
    print(text)
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
        side.gunicorn = Gunicorn(gunicorn_command(args, side.port), clean_environ(side.config),
                                 bench.workdir / f"gunicorn-{phase}.log")  # fmt: skip
        sides.append((side, phase))
    try:
        for side, _ in sides:
            assert side.gunicorn is not None
            side.gunicorn.start(side.port)
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
            if side.gunicorn is not None:
                side.gunicorn.stop()
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
             f"gunicorn: `{shlex.join(result['gunicorn'][2:])}` ({result.get('worker_processes')} worker processes)",
             f"load: `{shlex.join(result['wrk'])}`", ""]  # fmt: skip
    lines.append(markdown([r for r in rows if r.phase == "main"], lambda r: TITLES[r.endpoint]))
    lines += ["", "Round trips per operation:", "", roundtrips.table(
        [roundtrips.Count(c["operation"], c["commands"], c["status"]) for c in result["roundtrips"]])]  # fmt: skip
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


if __name__ == "__main__":
    main()
