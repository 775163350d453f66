"""Real-world load: starts that wait on a provider, beside the checks and webhooks that must not.

Every start goes through the real Twilio adapter (and, on failover, the real Plivo one) to
`bench/fake_provider.py`, which answers like their REST APIs after 300 ms (1 % after 2 s). Per
server model, four phases of `duration` seconds each, one wrk per kind of request so each kind
has its own latencies:

- `starts`: starts alone, `start_connections` at once: how many starts a second the model carries;
- `quiet`: checks (wrong codes), answer URLs, receipts and /healthz, no start in flight: the
  baseline of their latencies;
- `mixed`: the same load plus starts: a check or webhook must not wait behind a start (target: each
  kind's p99 within 3x of its `quiet` p99);
- `stalled`: the same, with Twilio answering after 4 s: starts wait for PROVIDER_TIMEOUT and fail
  over to Plivo, and everything else keeps answering (target: p99 under 100 ms).
"""

from __future__ import annotations

import sys
from pathlib import Path as _Path

if __package__ in (None, ""):
    sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import json
import math
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from bench import loadgen, seed
from bench.common import API_KEY, CLK_TCK, RedisServer, app_settings, busy_ticks, clean_environ, cpu_ticks, free_port
from bench.fake_provider import FakeProvider
from bench.servers import APP, Model, Served
from telephony.codes import CodeVault
from telephony.config import load_settings

PLIVO = {
    "PLIVO_AUTH_ID": "MA" + "B" * 18,
    "PLIVO_AUTH_TOKEN": "bench-plivo-auth-token-0123456789",  # fake: nothing ever reaches Plivo
    "PLIVO_FROM": "+15005550007",
}
OTHERS = {"check_wrong": 6, "answer": 2, "receipt": 2, "healthz": 1}  # connections per kind beside the starts
STALL_SECONDS = 4.0
MIXED_P99_FACTOR = 3.0
STALLED_P99_MS = 100.0
START_AREAS = ["646253", "212253", "415253", "718253", "917253", "305253", "312253", "617253"]


def start_number(i: int) -> str:
    """The i-th of 80 000 valid US numbers, apart from bench/seed.py's (those have pending codes)."""
    return f"+1{START_AREAS[i // 10_000 % len(START_AREAS)]}{i % 10_000:04d}"


def settings_for(redis_port: int, http_port: int, provider_url: str) -> dict[str, str]:
    """The benchmark's app settings (bench/common.py), with SMS through Twilio then Plivo, both
    pointed at the fake provider, and the default PROVIDER_TIMEOUT."""
    return {
        **app_settings(redis_port, http_port), **PLIVO,
        "SMS_PROVIDER": "twilio,plivo", "VOICE_PROVIDER": "twilio", "OTP_PROVIDER": "twilio",
        "TWILIO_API_URL": provider_url, "PLIVO_API_URL": provider_url,
    }  # fmt: skip


@dataclass
class Kind:
    """One kind of request in one phase."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int


@dataclass
class Phase:
    model: str
    phase: str
    kinds: dict[str, Kind]
    server_cores: float  # CPU of the server's processes, in cores, over the phase
    redis_cores: float
    provider_cores: float
    other_cores: float  # everything else on the machine (wrk included)
    provider_answers: dict = field(default_factory=dict)
    probe: dict = field(default_factory=dict)  # one start timed by hand (stalled phase)


class RealWorld:
    def __init__(self, server: RedisServer, provider: FakeProvider, workdir: Path, *, duration: float,
                 start_connections: int) -> None:  # fmt: skip
        self.server = server
        self.provider = provider
        self.workdir = workdir
        self.duration = duration
        self.start_connections = start_connections
        self.client = redis.Redis(port=server.port, decode_responses=True)
        self.next_start = 0
        self.next_seed = 0
        self.rate: dict[str, float] = {}

    def run_model(self, model: Model) -> list[Phase]:
        self.client.flushdb()
        self.next_start = self.next_seed = 0
        self.rate = {}  # sizes come from this model's own rates, not the previous model's
        port = free_port()
        config = settings_for(self.server.port, port, self.provider.url)
        settings = load_settings(config)
        self.vault = CodeVault(settings.secret_key)
        self.settings = settings
        self.base = f"http://127.0.0.1:{port}"
        served = Served(model.argv(APP, port), clean_environ(config), port, self.workdir / f"{model.name}.log")
        phases = []
        print(f"real-world load, {model.name}: {model.describe}", flush=True)
        with served:
            self.provider.set(delay=0.3, tail=0.01, tail_delay=2.0)
            self._load(served, model.name, "warm-up", starts=True, others=True, duration=2.0)
            for phase, starts, others in (("starts", True, False), ("quiet", False, True), ("mixed", True, True)):
                phases.append(self._load(served, model.name, phase, starts=starts, others=others))
            self.provider.set(delay=STALL_SECONDS, tail=0.0, provider="twilio")
            try:
                stalled = self._load(served, model.name, "stalled", starts=True, others=True)
                stalled.probe = self._probe_start()
                phases.append(stalled)
            finally:
                self.provider.set(delay=0.3, tail=0.01, tail_delay=2.0)
        return phases

    # --- requests ---------------------------------------------------------------------------

    def _lines(self, kind: str, duration: float) -> list[str]:
        expected = self.rate.get(kind, 1500.0) * duration * 1.5
        if kind == "healthz":
            return list(seed.healthz_lines())
        if kind == "start":
            count = math.ceil(max(expected, 3000))  # a number started twice would be a resend
            numbers = [start_number(self.next_start + i) for i in range(count)]
            self.next_start += count
            return [seed.line("POST", "/v1/verifications", json.dumps({"to": to, "channel": "sms"}), seed.api_headers())
                    for to in numbers]  # fmt: skip
        per = 80 if kind == "check_wrong" else 1  # wrong codes allowed per verification: 100
        pool = seed.seed(self.client, self.settings, self.vault, max(64, math.ceil(expected / per)),
                         "call" if kind == "answer" else "sms", first_number=self.next_seed)  # fmt: skip
        self.next_seed += len(pool)
        if kind == "check_wrong":
            return list(seed.check_lines(pool, right=False))
        if kind == "answer":
            return list(seed.answer_lines(pool, self.base))
        return list(seed.receipt_lines(pool, self.base))

    def _load(self, served: Served, model: str, phase: str, *, starts: bool, others: bool,
              duration: float | None = None) -> Phase:  # fmt: skip
        duration = duration or self.duration
        plan = {**({"start": self.start_connections} if starts else {}), **(OTHERS if others else {})}
        files = {}
        for kind in plan:
            path = self.workdir / f"{model}-{phase}-{kind}.tsv"
            path.write_text("\n".join(self._lines(kind, duration)) + "\n")
            files[kind] = path
        self.provider.reset()
        time.sleep(0.3)
        pids = served.pids()
        provider_pid, redis_pid = self.provider.pid, self.server.process.pid if self.server.process else 0
        before = sum(map(cpu_ticks, pids)), cpu_ticks(redis_pid), cpu_ticks(provider_pid), busy_ticks()[0]
        began = time.monotonic()
        with ThreadPoolExecutor(len(plan)) as pool:
            runs = {
                kind: pool.submit(
                    loadgen.run, self.base, files[kind], duration=duration, connections=conns, threads=min(2, conns)
                )
                for kind, conns in plan.items()
            }
            loads = {kind: run.result() for kind, run in runs.items()}
        wall = time.monotonic() - began
        after = sum(map(cpu_ticks, pids)), cpu_ticks(redis_pid), cpu_ticks(provider_pid), busy_ticks()[0]
        cores = [(after[i] - before[i]) / CLK_TCK / wall for i in range(4)]
        kinds = {k: Kind(ld.requests, ld.rps, ld.p50_ms, ld.p99_ms, ld.max_ms, ld.non_2xx, ld.errors)
                 for k, ld in loads.items()}  # fmt: skip
        if phase != "warm-up":
            for k, ld in loads.items():
                self.rate[k] = max(self.rate.get(k, 0.0), ld.rps)
        result = Phase(model, phase, kinds, cores[0], cores[1], cores[2], max(0.0, cores[3] - sum(cores[:3])),
                       provider_answers=self.provider.stats())  # fmt: skip
        shown = "  ".join(f"{k} {v.rps:,.0f}/s p99 {v.p99_ms:.1f} ms" + (f" non-2xx {v.non_2xx}" if v.non_2xx else "")
                          for k, v in kinds.items())  # fmt: skip
        print(f"  {phase:>8}: {shown}  (server {cores[0]:.2f} cores, other {result.other_cores:.2f})", flush=True)
        return result

    def _probe_start(self) -> dict:
        """One start while Twilio stalls, timed here: how long it took and where it went."""
        body = json.dumps({"to": start_number(self.next_start), "channel": "sms"}).encode()
        self.next_start += 1
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        url = f"{self.base}/v1/verifications"
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 (http://127.0.0.1)
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 (http://127.0.0.1 only)
                answer = json.load(response)
                status = response.status
        except (OSError, ValueError) as exc:  # a server model that queues every start behind the stall
            return {"status": None, "seconds": round(time.monotonic() - began, 3), "sends": [], "error": repr(exc)}
        return {"status": status, "seconds": round(time.monotonic() - began, 3),
                "sends": [{"provider": s["provider"], "status": s["status"]} for s in answer["sends"]]}  # fmt: skip


# --- verdicts -------------------------------------------------------------------------------------


def verdicts(phases: list[Phase], provider_timeout: float, min_starts: float) -> list[tuple[str, bool, str]]:
    """(target, met, what was measured) for one model's phases."""
    by = {p.phase: p for p in phases}
    out = []
    starts = by["starts"].kinds["start"]
    out.append((f"starts/s with a 300 ms provider ≥ {min_starts:g}", starts.rps >= min_starts and starts.non_2xx == 0,
                f"{starts.rps:,.0f}/s, p99 {starts.p99_ms:,.0f} ms, non-2xx {starts.non_2xx}"))  # fmt: skip
    for kind in ("check_wrong", "answer", "receipt", "healthz"):
        quiet, mixed = by["quiet"].kinds[kind], by["mixed"].kinds[kind]
        limit = MIXED_P99_FACTOR * quiet.p99_ms
        factor = mixed.p99_ms / max(quiet.p99_ms, 1e-9)
        out.append((f"{kind} p99 under starts ≤ {MIXED_P99_FACTOR:g}x without", mixed.p99_ms <= limit,
                    f"{mixed.p99_ms:.1f} ms vs {quiet.p99_ms:.1f} ms ({factor:.2f}x)"))  # fmt: skip
    stalled = by["stalled"]
    for kind in ("check_wrong", "answer", "receipt", "healthz"):
        k = stalled.kinds[kind]
        out.append((f"{kind} p99 with the provider stalled < {STALLED_P99_MS:g} ms",
                    k.requests > 0 and k.p99_ms < STALLED_P99_MS and k.non_2xx == 0,
                    f"{k.p99_ms:.1f} ms, {k.rps:,.0f}/s"))  # fmt: skip
    probe = stalled.probe
    sends = probe.get("sends", [])
    failed_over = (len(sends) >= 2 and sends[0]["provider"] == "twilio" and sends[0]["status"] == "failed"
                   and sends[-1]["provider"] == "plivo" and sends[-1]["status"] != "failed")  # fmt: skip
    timely = provider_timeout <= probe.get("seconds", 0) < provider_timeout + 1.5
    s = stalled.kinds["start"]
    out.append((f"stalled starts time out at PROVIDER_TIMEOUT ({provider_timeout:g} s) and fail over",
                failed_over and timely and s.non_2xx == 0,
                f"probe {probe.get('status')} in {probe.get('seconds')} s via "
                f"{' -> '.join(x['provider'] + ':' + x['status'] for x in sends)}; under load {s.rps:,.0f}/s,"
                f" p50 {s.p50_ms:,.0f} ms, non-2xx {s.non_2xx}"))  # fmt: skip
    return out


def markdown(phases: list[Phase]) -> str:
    out = ["| model | phase | kind | req/s | p50 ms | p99 ms | max ms | non-2xx / errors | server cores | other load |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for p in phases:
        for kind, k in p.kinds.items():
            out.append(
                f"| {p.model} | {p.phase} | {kind} | {k.rps:,.0f} | {k.p50_ms:.1f} | {k.p99_ms:.1f} | "
                f"{k.max_ms:.0f} | {k.non_2xx} / {k.errors} | {p.server_cores:.2f} | {p.other_cores:.2f} |"
            )
    return "\n".join(out)


def summary(model: str, phases: list[Phase]) -> dict:
    by = {p.phase: p for p in phases}
    return {
        "model": model,
        "starts_per_s": by["starts"].kinds["start"].rps,
        "mixed_p99_ratio": max(
            by["mixed"].kinds[k].p99_ms / max(by["quiet"].kinds[k].p99_ms, 1e-9)
            for k in ("check_wrong", "answer", "receipt")
        ),
        "stalled_p99_ms": max(by["stalled"].kinds[k].p99_ms for k in ("check_wrong", "answer", "receipt", "healthz")),
        "quiet_check_rps": by["quiet"].kinds["check_wrong"].rps,
        "quiet_check_p99": by["quiet"].kinds["check_wrong"].p99_ms,
    }


def as_json(phases: list[Phase]) -> list[dict]:
    return [asdict(p) for p in phases]



def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile

    from bench.servers import MODELS

    p = argparse.ArgumentParser(description="real-world load alone (bench/run.py runs it with everything else)")
    p.add_argument("--models", default="procfile", help=f"comma-separated, of: {', '.join(MODELS)}")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--start-connections", type=int, default=48)
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-realworld-"))
    with RedisServer() as server, FakeProvider() as provider:
        bench = RealWorld(server, provider, workdir, duration=args.duration, start_connections=args.start_connections)
        for name in args.models.split(","):
            phases = bench.run_model(MODELS[name])
            print(markdown(phases))
            for target, met, measured in verdicts(phases, bench.settings.provider_timeout, 100):
                print(f"{'PASS' if met else 'MISS'}  {target}: {measured}")


if __name__ == "__main__":
    main()
