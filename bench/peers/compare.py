"""The SignalWire tutorial's `/validate-auth` (bench/peers/signalwire_seed.py) against ours.

    python bench/peers/compare.py            # its own redis-server; about 2 minutes on 2 cores
    python -m bench.peers.compare --json out.json

Both apps run under the same server model (the Procfile's `web:` line by default, through
`bench.servers`) and take the same load: wrk, 16 connections, 2 threads, wrong codes for numbers
that are pending, the numbers spread over the whole set. For each N in 1 000, 100 000 and
1 000 000 pending:

- the seed: every worker preloads N sessions in its list (SEED_PENDING=N). Its `/validate-auth`
  is GET only (as the tutorial declares it; the form's POST gets 405), so its checks are GETs with
  `number` and `auth_code` in the query string, which `request.values` reads as it reads a form;
- ours: `POST /validate-auth` (webhooks/demo.py, on under APP_ENV=test; DEMO_ENABLED=1 given too),
  form-encoded, against N pending verifications in our Redis (one database of the given server,
  flushed before each N and at the end). A pool of them takes the checks, each number at most
  ~90 wrong codes of the 100 allowed (OTP_MAX_CHECKS in bench.common.app_settings); after the run
  the wrong codes counted in Redis are compared with the requests sent.

Each side: a warm-up run, a wait until the server is idle again (the seed's workers finish the
scans wrk left queued), then the measured run. Reported: req/s, p50/p99, CPU per request of the
server's processes (and of redis-server) from /proc, and the CPU other processes used meanwhile.

Then the per-process state: K fresh numbers each ask the seed for a code (`/request-auth`, whose
benchmark copy returns it in X-Bench-Code) and send it back right away on a new connection, one
user at a time and then 16 at a time; with W workers only the worker that stored a code knows it,
and which worker takes the second connection is the kernel's choice. The same K right codes
against ours (pending verifications seeded with known codes) should all be accepted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from bench import loadgen, seed
from bench.common import (
    CLK_TCK,
    RedisServer,
    app_settings,
    busy_ticks,
    children_ticks,
    clean_environ,
    cpu_ticks,
    free_port,
)
from bench.peers import signalwire_seed
from bench.servers import APP, MODELS, Model, Served
from telephony.codes import CodeVault
from telephony.config import load_settings
from telephony.store import keys

SEED = "bench.peers.signalwire_seed:create_app()"
PENDING = (1_000, 100_000, 1_000_000)
OUTSIDE_RATIO = {1_000: 0.37, 100_000: 7.0, 1_000_000: 83.0}  # ours/seed req/s, the outside run
SPREAD = 1000  # distinct pending numbers the seed's checks name, spread over its list
POOL = 600  # our pending verifications that take the wrong codes (at most N)
MAX_WRONG = 90  # wrong codes per verification we allow ourselves, of the 100 allowed
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Side:
    app: str  # "seed" or "ours"
    pending: int
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int
    server_cpu_us: float  # per request, every process of the server (master and workers)
    redis_cpu_us: float  # per request, redis-server
    other_cores: float  # CPU other processes used meanwhile (not the server, redis or wrk)
    steal_cores: float
    processes: int
    checked: int | None = None  # ours: wrong codes counted in Redis (warm-up and probe included)
    sent: int | None = None  # ours: requests answered (probe, warm-up, run) that should have been counted
    note: str = ""


def _wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _form(**fields: str) -> str:
    return urllib.parse.urlencode(fields)


def seed_lines(pending: int, spread: int = SPREAD) -> list[str]:
    """Wrong codes for `spread` pending numbers of the seed's list, evenly spread over it (the
    tutorial's scan does not stop at the number on a wrong code, so each walks the whole list)."""
    lines = []
    for k in range(min(spread, pending)):
        i = k * pending // min(spread, pending) + (pending // spread // 2 if pending > spread else 0)
        number, code = signalwire_seed.pending_number(i)[1:], signalwire_seed.pending_code(i)
        lines.append(seed.line("GET", "/validate-auth?" + _form(number=number, auth_code=_wrong(code))))
    return lines


def our_lines(pool: list[seed.Seeded]) -> list[str]:
    """Wrong codes for our pending pool, form-encoded as the tutorial's form sends them."""
    return [
        seed.line("POST", "/validate-auth", _form(number=s.to, auth_code=_wrong(s.code)), FORM_HEADERS) for s in pool
    ]


def _request(port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None):
    """One request on a connection of its own: (status, body, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read().decode(), {k.lower(): v for k, v in r.getheaders()}  # granian: lower case
    finally:
        conn.close()


def _replay(port: int, line: str):
    method, path, body, *hv = line.split("\t")
    return _request(port, method, path, body, dict(zip(hv[::2], hv[1::2], strict=True)))


class Ours:
    """Our app's settings, and N pending verifications in one database of `redis_server`."""

    def __init__(self, redis_server: RedisServer, port: int, db: int) -> None:
        self.db = db
        self.config = {
            **app_settings(redis_server.port, port),
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/{db}",
            "DEMO_ENABLED": "1",
        }
        self.settings = load_settings(self.config)
        self.vault = CodeVault(self.settings.secret_key)
        self.client = redis.Redis(port=redis_server.port, db=db, decode_responses=True)

    def flush(self) -> None:
        self.client.flushdb(asynchronous=True)
        while int(self.client.info("memory").get("lazyfree_pending_objects", 0)):
            time.sleep(0.05)

    def fill(self, pending: int, pool: int, first_number: int = 0) -> tuple[list[seed.Seeded], float]:
        """`pending` pending verifications: `pool` with known codes (seed.seed) and the rest cloned
        in Redis from a real record (seed.fill, as memory.fill_databases). Returns the pool and the
        seconds the fill took."""
        began = time.monotonic()
        self.flush()
        made = seed.seed(self.client, self.settings, self.vault, pool, first_number=first_number)
        if pending > pool:
            template, _ = seed.build(self.settings, self.vault, seed.number(0), "sms", time.time())
            seed.fill(self.client, template, pending - pool)
        return made, time.monotonic() - began

    def pending(self) -> int:
        return int(self.client.dbsize()) // 2  # each is a hash and its number's pointer

    def checked(self, pool: list[seed.Seeded]) -> tuple[int, int]:
        """Wrong codes counted against the pool (field `k` is the checks left): in all, and on the
        verification that took the most."""
        pipe = self.client.pipeline(transaction=False)
        for s in pool:
            pipe.hget(keys.verification(s.id), "k")
        counts = [self.settings.otp_max_checks - int(k) for k in pipe.execute() if k is not None]
        return sum(counts), max(counts, default=0)


def _settle(served: Served, timeout: float = 20.0) -> None:
    """Wait until the server's processes stop using CPU (requests wrk left queued are done)."""
    deadline = time.monotonic() + timeout
    pids = served.pids()
    while time.monotonic() < deadline:
        before = sum(cpu_ticks(p) for p in pids)
        time.sleep(0.25)
        if sum(cpu_ticks(p) for p in pids) - before <= 1:
            return


def _load(
    served: Served, redis_pid: int, lines: list[str], workdir: Path, name: str, *,
    duration: float, warmup: float, connections: int, threads: int,
) -> tuple[loadgen.Load, dict, int]:  # fmt: skip
    """The measured run (after a warm-up), the CPU figures, and the requests the warm-up completed."""
    base = f"http://127.0.0.1:{served.port}"
    request_file = workdir / f"{name}.tsv"
    request_file.write_text("\n".join(lines) + "\n")
    warmed = 0
    if warmup > 0:
        warmed = loadgen.run(base, request_file, duration=warmup, connections=connections, threads=threads).requests
        _settle(served)
    pids = served.pids()
    time.sleep(0.2)
    before = sum(cpu_ticks(p) for p in pids), cpu_ticks(redis_pid), children_ticks(), *busy_ticks()
    began = time.monotonic()
    load = loadgen.run(base, request_file, duration=duration, connections=connections, threads=threads)
    wall = time.monotonic() - began
    after = sum(cpu_ticks(p) for p in pids), cpu_ticks(redis_pid), children_ticks(), *busy_ticks()
    per = 1e6 / CLK_TCK / max(1, load.requests)
    ours = sum(after[i] - before[i] for i in range(3))
    cpu = {
        "server_cpu_us": (after[0] - before[0]) * per,
        "redis_cpu_us": (after[1] - before[1]) * per,
        "other_cores": max(0.0, (after[3] - before[3] - ours) / CLK_TCK / wall),
        "steal_cores": (after[4] - before[4]) / CLK_TCK / wall,
        "processes": len(pids),
    }
    _settle(served)
    return load, cpu, warmed


def _side(app: str, pending: int, load: loadgen.Load, cpu: dict, **extra) -> Side:
    return Side(app, pending, load.rps, load.requests, load.p50_ms, load.p99_ms, load.max_ms, load.non_2xx,
                load.errors, **cpu, **extra)  # fmt: skip


def _model(model: str | Model) -> Model:
    return MODELS[model] if isinstance(model, str) else model


def _served(model: Model, target: str, env: dict[str, str], workdir: Path, name: str) -> Served:
    port = free_port()
    if target == APP:  # our app's PUBLIC_BASE_URL names its own port
        env = {**env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    return Served(model.argv(target, port), env, port, workdir / f"{name}.log")


def measure_seed(model: Model, redis_pid: int, pending: int, workdir: Path, log: Callable[[str], None], **run) -> Side:
    served = _served(model, SEED, clean_environ({"SEED_PENDING": str(pending)}), workdir, f"seed-{pending}")
    began = time.monotonic()
    with served:
        _settle(served)  # at 1M every worker builds its list (seconds): wait until all have
        booted = time.monotonic() - began
        lines = seed_lines(pending)
        status, body, _ = _replay(served.port, lines[0])
        assert (status, body) == (200, "403"), (status, body)  # the tutorial's refusal: HTTP 200, body "403"
        last = pending - 1
        number, code = signalwire_seed.pending_number(last)[1:], signalwire_seed.pending_code(last)
        status, body, _ = _request(served.port, "GET", "/validate-auth?" + _form(number=number, auth_code=code))
        assert (status, body) == (200, "200"), f"entry {last} not preloaded: {status} {body}"
        load, cpu, _ = _load(served, redis_pid, lines, workdir, f"seed-{pending}", **run)
    side = _side("seed", pending, load, cpu, note=f"started in {booted:.1f} s")
    log(_line(side))
    return side


def measure_ours(served: Served, ours: Ours, redis_pid: int, pending: int, workdir: Path,
                 log: Callable[[str], None], **run) -> tuple[Side, float]:  # fmt: skip
    pool, filled = ours.fill(pending, min(pending, POOL))
    assert ours.pending() == pending, (ours.pending(), pending)
    lines = our_lines(pool)
    status, body, _ = _replay(served.port, lines[0])
    assert (status, body) == (403, "Forbidden"), (status, body)
    load, cpu, warmed = _load(served, redis_pid, lines, workdir, f"ours-{pending}", **run)
    checked, most = ours.checked(pool)
    # wrk counts the requests answered before it stopped; those in flight then were counted too
    side = _side("ours", pending, load, cpu, checked=checked, sent=1 + warmed + load.requests,
                 note=f"filled in {filled:.1f} s; at most {most} wrong codes on one number")  # fmt: skip
    log(_line(side) + f"  wrong codes counted {checked:,} of {side.sent:,} answered")
    return side, filled


def _line(s: Side) -> str:
    return (f"  {s.app:>4} N={s.pending:>9,}: {s.rps:8.1f} req/s  p50 {s.p50_ms:8.2f} ms  p99 {s.p99_ms:8.2f} ms"
            f"  non-2xx {s.non_2xx} errors {s.errors}  cpu/req {s.server_cpu_us:.0f}+{s.redis_cpu_us:.0f} µs"
            f"  other {s.other_cores:.2f} cores")  # fmt: skip


# --- the per-process state ---------------------------------------------------------------------


def _flows(count: int, clients: int, flow: Callable[[int], bool]) -> int:
    """Run `flow(k)` for k < count from `clients` threads at once; how many returned True."""
    if clients <= 1:
        return sum(flow(k) for k in range(count))
    with ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(flow, range(count)))


def seed_right_codes(served: Served, count: int, workers: int, *, clients: int = 1, first: int = 0) -> dict:
    """`count` fresh numbers, `clients` users at a time: each asks the seed for a code and sends it
    straight back, each request on a new connection; how many right codes it accepted."""
    stored_by: Counter[str] = Counter()
    lock = threading.Lock()

    def flow(k: int) -> bool:
        digits = f"1555{first + k:07d}"
        status, body, headers = _request(served.port, "POST", "/request-auth", _form(number=digits), FORM_HEADERS)
        assert status == 200, (status, body)
        with lock:
            stored_by[headers["x-bench-worker"]] += 1
        query = _form(number=digits, auth_code=headers["x-bench-code"])
        status, body, _ = _request(served.port, "GET", f"/validate-auth?{query}")
        return (status, body) == (200, "200")

    accepted = _flows(count, clients, flow)
    # What the tutorial's own form sends (a POST) to this route:
    form = _form(number="15550000000", auth_code="123456")
    form_status, _, _ = _request(served.port, "POST", "/validate-auth", form, FORM_HEADERS)
    return {"app": "seed", "clients": clients, "requests": count, "accepted": accepted, "workers": workers,
            "expected": round(count / workers), "codes_stored_per_worker": sorted(stored_by.values(), reverse=True),
            "form_post_status": form_status}  # fmt: skip


def our_right_codes(served: Served, ours: Ours, count: int, workers: int, *, clients: int = 1) -> dict:
    """`count` pending verifications with known codes, `clients` users at a time: each right code
    on a new connection; how many were accepted (and approved in Redis)."""
    pool, _ = ours.fill(count, count, first_number=50_000)

    def flow(k: int) -> bool:
        form = _form(number=pool[k].to, auth_code=pool[k].code)
        status, body, _ = _request(served.port, "POST", "/validate-auth", form, FORM_HEADERS)
        return (status, body) == (200, "Success!")

    accepted = _flows(count, clients, flow)
    approved = sum(ours.client.hget(keys.verification(s.id), "s") == "approved" for s in pool)
    return {"app": "ours", "clients": clients, "requests": count, "accepted": accepted, "workers": workers,
            "expected": count, "approved_in_redis": approved}  # fmt: skip


def right_codes(
    seed_served: Served, our_served: Served, ours: Ours, count: int, clients: Iterable[int]
) -> tuple[list[dict], list[dict]]:
    """The seed's and our acceptance of right codes, for each number of simultaneous users."""
    seed_rows, our_rows = [], []
    for n, c in enumerate(clients):
        seed_rows.append(seed_right_codes(seed_served, count, _workers(seed_served), clients=c, first=n * count))
        our_rows.append(our_right_codes(our_served, ours, count, _workers(our_served), clients=c))
    return seed_rows, our_rows


def _workers(served: Served) -> int:
    return max(1, len(served.pids()) - 1)  # the master (or granian's launcher) and its workers


# --- the whole comparison ------------------------------------------------------------------------


def run(
    redis_server: RedisServer,
    *,
    model: str | Model = "procfile",
    pending: Iterable[int] = PENDING,
    duration: float = 5.0,
    warmup: float = 1.0,
    connections: int = 16,
    threads: int = 2,
    db: int = 3,
    state_count: int = 200,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """The seed's `/validate-auth` against ours at each N, then the per-process state; JSON-able.

    `redis_server` must be running; database `db` of it is flushed before each N and at the end
    (nothing else in it is touched). Servers are started here and stopped here.
    """
    began = time.monotonic()
    chosen = _model(model)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-peers-"))
    assert redis_server.process is not None
    redis_pid = redis_server.process.pid
    if loadgen.wrk_available():  # wrk takes whole seconds
        duration, warmup = max(1, round(duration)), round(warmup)
    loads = {"duration": duration, "warmup": warmup, "connections": connections, "threads": threads}
    ours_port = free_port()
    ours = Ours(redis_server, ours_port, db)
    rows = []
    result: dict = {
        "model": {"name": chosen.name, "describe": chosen.describe,
                  "seed_command": chosen.argv(SEED, 0), "ours_command": chosen.argv(APP, 0)},
        "load": {**loads, "wrk": loadgen.wrk_command("http://127.0.0.1:PORT", Path("<requests.tsv>"),
                 duration=duration, connections=connections, threads=threads) if loadgen.wrk_available() else
                 "python (bench/loadgen.py)"},
        "workdir": str(workdir),
    }  # fmt: skip
    our_server = Served(chosen.argv(APP, ours_port), clean_environ(ours.config), ours_port, workdir / "ours.log")
    try:
        with our_server:
            for n, count in enumerate(pending):
                log(f"N = {count:,} pending")
                seed_first = n % 2 == 0  # alternate the order, so a drift in the machine's load falls on both
                sides: dict[str, Side] = {}
                for which in ("seed", "ours") if seed_first else ("ours", "seed"):
                    if which == "seed":
                        sides["seed"] = measure_seed(chosen, redis_pid, count, workdir, log, **loads)
                    else:
                        sides["ours"], _ = measure_ours(our_server, ours, redis_pid, count, workdir, log, **loads)
                ratio = sides["ours"].rps / sides["seed"].rps if sides["seed"].rps else math.inf
                rows.append({"pending": count, "seed": asdict(sides["seed"]), "ours": asdict(sides["ours"]),
                             "ratio": ratio, "outside_ratio": OUTSIDE_RATIO.get(count)})  # fmt: skip
                log(f"  ours/seed = {ratio:.2f}x (outside run: {OUTSIDE_RATIO.get(count)})")
            result["rows"] = rows
            log("per-process state: right codes")
            state_model, empty = chosen, clean_environ({"SEED_PENDING": "0"})
            state_clients = (1, connections)
            seed_state = our_state = None
            with _served(chosen, SEED, empty, workdir, "seed-state") as served:
                if _workers(served) >= 2:
                    seed_state, our_state = right_codes(served, our_server, ours, state_count, state_clients)
        if seed_state is None:  # one process shares its list: show what several workers do
            state_model = MODELS["sync-4"]
            ours_port = free_port()
            ours = Ours(redis_server, ours_port, db)
            with (
                _served(state_model, SEED, empty, workdir, "seed-state-sync-4") as served,
                Served(state_model.argv(APP, ours_port), clean_environ(ours.config), ours_port,
                       workdir / "ours-state-sync-4.log") as our_served,
            ):  # fmt: skip
                seed_state, our_state = right_codes(served, our_served, ours, state_count, state_clients)
        assert our_state is not None
        result["state"] = {"model": state_model.name, "describe": state_model.describe,
                           "seed": seed_state, "ours": our_state}  # fmt: skip
        for mine, theirs in zip(seed_state, our_state, strict=True):
            log(f"  {mine['clients']} at a time: seed accepted {mine['accepted']}/{state_count} right codes"
                f" ({mine['workers']} workers), ours {theirs['accepted']}/{state_count}")  # fmt: skip
    finally:
        ours.flush()
    result["seconds"] = round(time.monotonic() - began, 1)
    return result


def markdown(result: dict) -> str:
    m = result["model"]
    load = result["load"]
    wrk = " ".join(load["wrk"]) if isinstance(load["wrk"], list) else load["wrk"]
    lines = [
        f"Server model: {m['name']} ({m['describe']}); load: `{wrk}`, {load['duration']:g} s per run after a"
        f" {load['warmup']:g} s warm-up.",
        "Seed: `GET /validate-auth?number=…&auth_code=<wrong>` (its route is GET only), N sessions preloaded"
        " in every worker; ours: `POST /validate-auth` form, N pending verifications in Redis.",
        "",
        "| pending N | seed req/s | seed p99 ms | ours req/s | ours p99 ms | ours/seed req/s | outside run |"
        " CPU µs/req seed | CPU µs/req ours (app + redis) | other load, cores (seed / ours) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        s, o = r["seed"], r["ours"]
        outside = f"{r['outside_ratio']:g}x" if r.get("outside_ratio") else "—"
        lines.append(
            f"| {r['pending']:,} | {s['rps']:,.1f} | {s['p99_ms']:,.1f} | {o['rps']:,.0f} | {o['p99_ms']:,.1f} |"
            f" **{r['ratio']:.2f}x** | {outside} | {s['server_cpu_us']:,.0f} |"
            f" {o['server_cpu_us']:,.0f} + {o['redis_cpu_us']:,.0f} | {s['other_cores']:.2f} / {o['other_cores']:.2f} |"
        )
    lines += ["", "Answers and checks: " + "; ".join(
        f"N={r['pending']:,}: seed {r['seed']['requests']:,} requests ({r['seed']['non_2xx']} non-2xx, "
        f"{r['seed']['errors']} errors: its refusals are HTTP 200 \"403\"), ours {r['ours']['requests']:,} "
        f"(all 403 \"Forbidden\" expected: {r['ours']['non_2xx']:,} non-2xx, {r['ours']['errors']} errors; "
        f"{r['ours']['checked']:,} wrong codes counted in Redis for {r['ours']['sent']:,} answered incl. warm-up; "
        f"{r['ours']['note']})"
        for r in result["rows"])]  # fmt: skip
    st = result.get("state")
    if st:
        lines += [
            "",
            f"Right codes sent straight back, each request on a new connection ({st['model']}: {st['describe']}):",
            "",
            "| app | workers | users at a time | right codes accepted | rate | expected |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for x in st["seed"]:
            lines.append(
                f"| seed (state per process) | {x['workers']} | {x['clients']} | {x['accepted']} / {x['requests']} |"
                f" {x['accepted'] / x['requests']:.0%} | ~1/{x['workers']} (codes stored per worker:"
                f" {', '.join(map(str, x['codes_stored_per_worker']))}) |"
            )
        for x in st["ours"]:
            lines.append(
                f"| ours (Redis) | {x['workers']} | {x['clients']} | {x['accepted']} / {x['requests']} |"
                f" {x['accepted'] / x['requests']:.0%} | all ({x['approved_in_redis']} approved in Redis) |"
            )
        lines += [
            "",
            f"The tutorial's form POSTs to the seed's `/validate-auth`: HTTP {st['seed'][0]['form_post_status']}.",
        ]
    lines.append(f"\n({result['seconds']:.0f} s in all)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="procfile", choices=sorted(MODELS), help="server model (procfile)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run (1)")
    p.add_argument("--pending", type=int, nargs="+", default=list(PENDING), help="the N to compare")
    p.add_argument("--state-count", type=int, default=200, help="right codes sent in the state test (200)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    with RedisServer() as server:
        result = run(server, model=args.model, pending=args.pending, duration=args.duration, warmup=args.warmup,
                     state_count=args.state_count)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
