"""Drive HTTP load on loopback: wrk with bench/replay.lua, or a small Python generator without it.

Both read the same request file (see `seed.line`), split it between their threads the same way,
stop after `duration` seconds, and report requests, errors and latency percentiles (microseconds).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPLAY = Path(__file__).resolve().parent / "replay.lua"


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int  # socket errors and timeouts
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def run(base_url: str, request_file: Path, *, duration: float, connections: int, threads: int) -> Load:
    if wrk_available():
        return run_wrk(base_url, request_file, duration=duration, connections=connections, threads=threads)
    return run_python(base_url, request_file, duration=duration, connections=connections, threads=threads)


def wrk_command(base_url: str, request_file: Path, *, duration: float, connections: int, threads: int) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s",
            "-s", str(REPLAY), base_url, "--", str(request_file), str(threads)]  # fmt: skip


def run_wrk(base_url: str, request_file: Path, *, duration: float, connections: int, threads: int) -> Load:
    command = wrk_command(base_url, request_file, duration=duration, connections=connections, threads=threads)
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    found = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    if out.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    r = json.loads(found[-1].removeprefix("BENCH_JSON "))
    return Load(
        requests=r["requests"], seconds=r["duration_us"] / 1e6,
        errors=r["connect"] + r["read"] + r["write"] + r["timeout"], non_2xx=r["status"],
        p50_ms=r["p50"] / 1000, p90_ms=r["p90"] / 1000, p99_ms=r["p99"] / 1000, max_ms=r["max"] / 1000,
    )  # fmt: skip


# --- the Python fallback: one process per "thread", asyncio connections in each ------------------


def _parse(line: str) -> tuple[str, str, str, dict[str, str]]:
    p = line.rstrip("\n").split("\t")
    return p[0], p[1], p[2], dict(zip(p[3::2], p[4::2], strict=True))


def _raw(host: str, method: str, path: str, body: str, headers: dict[str, str]) -> bytes:
    data = body.encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers.items()]
    if data:
        head.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def _connection(host, port, requests, cursor, deadline, latencies, counts) -> None:
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            payload = requests[cursor[0] % len(requests)]
            cursor[0] += 1
            began = time.monotonic()
            writer.write(payload)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            length = int(fields.get("content-length", "0"))
            if length:
                await asyncio.wait_for(reader.readexactly(length), 5)
            latencies.append(time.monotonic() - began)
            counts["requests"] += 1
            if not 200 <= status < 400:
                counts["non_2xx"] += 1
            if fields.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            counts["errors"] += 1
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


def _worker(args: tuple) -> tuple[list[float], dict[str, int]]:
    host, port, lines, connections, duration = args

    async def main() -> tuple[list[float], dict[str, int]]:
        requests = [_raw(f"{host}:{port}", *_parse(ln)) for ln in lines]
        latencies: list[float] = []
        counts = {"requests": 0, "errors": 0, "non_2xx": 0}
        cursor = [0]
        deadline = time.monotonic() + duration
        await asyncio.gather(
            *(_connection(host, port, requests, cursor, deadline, latencies, counts) for _ in range(connections))
        )
        return latencies, counts

    return asyncio.run(main())


def run_python(base_url: str, request_file: Path, *, duration: float, connections: int, threads: int) -> Load:
    host, port = base_url.removeprefix("http://").split(":")
    lines = request_file.read_text().splitlines()
    jobs = []
    for t in range(threads):
        share = lines[t::threads] or lines
        jobs.append((host, int(port), share, max(1, connections // threads), duration))
    began = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(threads) as pool:
        results = pool.map(_worker, jobs)
    seconds = min(duration, time.monotonic() - began)
    latencies = sorted(x for lat, _ in results for x in lat)
    total = {k: sum(c[k] for _, c in results) for k in ("requests", "errors", "non_2xx")}

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return Load(total["requests"], seconds, total["errors"], total["non_2xx"],
                pct(50), pct(90), pct(99), latencies[-1] * 1000 if latencies else 0.0)  # fmt: skip
