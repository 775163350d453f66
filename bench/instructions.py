"""Instructions per request of each kind, counted by valgrind: the same figure on every run.

    python bench/instructions.py                       # every kind (about 4 minutes on 2 cores)
    python bench/instructions.py --kinds healthz check_wrong

CPU time on a shared virtual machine varies by ±30 % from one round to the next (the host's
other tenants), which hides a 5 % gain. `valgrind --tool=callgrind` counts the instructions
the process executes instead, identical for identical work. For each kind, `bench/cpu.py` runs
twice under valgrind with the same set-up and the same prepared requests, serving LOW and then
HIGH of them; the difference divided by HIGH - LOW is the cost of one request (Python, Flask,
the app, redis-py and the kernel entry of each syscall, not the time spent inside the kernel or
in redis-server). Needs valgrind (Debian: apt-get install -y valgrind).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT
from bench.seed import KINDS

COLLECTED = re.compile(r"Collected\s*:\s*([\d,]+)")


def count(kind: str, served: int, pool: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, str(ROOT / "bench" / "cpu.py"),
        "--kinds", kind, "--count", str(served), "--rounds", "1", "--pool", str(pool),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{kind}: valgrind run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--low", type=int, default=100)
    p.add_argument("--high", type=int, default=400)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install -y valgrind)")
    pool = args.high + 60  # 50 warm-up requests, then HIGH measured ones, each used once
    runs = [(kind, n) for kind in args.kinds for n in (args.low, args.high)]
    with ThreadPoolExecutor(args.jobs) as workers:
        totals = dict(zip(runs, workers.map(lambda run: count(run[0], run[1], pool), runs), strict=True))
    per = {kind: (totals[kind, args.high] - totals[kind, args.low]) / (args.high - args.low) for kind in args.kinds}
    base = per.get("healthz")
    print(f"{'kind':<12} {'instructions/req':>17} {'÷ healthz':>10}")
    for kind in args.kinds:
        ratio = f"{per[kind] / base:10.2f}" if base else ""
        print(f"{kind:<12} {per[kind]:17,.0f} {ratio}")


if __name__ == "__main__":
    main()
