"""Memory of the record shapes that led to the compact record (store/record.py), emulated.

The first shape is the record as it was before the fix; the last is close to today's.

    python bench/memory_shapes.py     # starts its own redis-server; ~1 minute

Writes 100 000 records of each shape (hash + expiry + the number's latest pointer) and prints
INFO used_memory delta / count, MEMORY USAGE and OBJECT ENCODING of one hash.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RedisServer
from bench.memory import flush

N = 100_000
MAC, ENC = "bded4331fe173d24426379521ca02d73", "CGCIaNCH_KllE7EJUCkZcAOHZ8Qmkbkc3Nm1jIitV2q_Wg"
SID = "SM8e706c86976639828f73e7947a3e2e1e"


def before(vid: str, to: str) -> dict[str, str]:
    return {"id": vid, "to": to, "m": "sms", "l": "en", "status": "pending", "checks_left": "5", "ms": "5",
            "c": "1795680317.2897944", "e": "1795680917.2897944", "mac": MAC, "enc": ENC, "ver": "1",
            "a": f'[[1,"sms","twilio","queued",1795680317.2897944,"{SID}",null,null]]', "x": "{}"}  # fmt: skip


def split_provider_id(vid: str, to: str) -> dict[str, str]:
    return {**before(vid, to), "a": '[[1,"sms","twilio","queued",1795680317.2897944,null,null]]', "p0": SID}


def compact(vid: str, to: str) -> dict[str, str]:
    return {"to": to, "m": "sms", "l": "en", "status": "pending", "checks_left": "5", "ms": "5", "c": "1795680317",
            "e": "1795680917", "mac": MAC, "enc": ENC, "ver": "1", "a0": "1,sms,twilio,queued,1795680317",
            "p0": SID}  # fmt: skip


def compacter(vid: str, to: str) -> dict[str, str]:
    return {"to": to, "m": "sms:en:5", "s": "pending", "k": "5", "c": "1795680317", "e": "1795680917",
            "h": "vUPTMf4XPSRCY3lSHKAtcw", "enc": ENC, "v": "1", "a0": "1,sms,twilio,queued,1795680317",
            "p0": SID}  # fmt: skip


def measure(client, shape: Callable[[str, str], dict[str, str]], short_keys: bool = False) -> tuple:
    flush(client)
    time.sleep(0.3)
    before = int(client.info("memory")["used_memory"])
    pipe = client.pipeline(transaction=False)
    expires = int((time.time() + 600) * 1000)
    key = ""
    for i in range(N):
        rand = secrets.token_urlsafe(16)[:22]
        vid, to = "vf_616b8449" + rand, f"+1650{2530000 + i:07d}"
        key = f"otp:{{616b8449}}:v:{rand}" if short_keys else f"otp:{{616b8449}}:vf:{vid}"
        pipe.hset(key, mapping=shape(vid, to))
        pipe.pexpireat(key, expires)
        pipe.set(f"otp:{{616b8449}}:latest:{to}", rand if short_keys else vid, pxat=expires)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    after = int(client.info("memory")["used_memory"])
    return round((after - before) / N), client.memory_usage(key, samples=0), client.object("encoding", key)


def main() -> None:
    shapes = [("before the fix", before, False), ("provider id in its own field", split_provider_id, False),
              ("compact", compact, False), ("compacter", compacter, False),
              ("compacter + short keys", compacter, True)]  # fmt: skip
    with RedisServer() as server:
        client = server.client()
        print("| record shape | bytes / verification | hash MEMORY USAGE | encoding |\n| --- | --- | --- | --- |")
        for name, shape, short in shapes:
            per, usage, encoding = measure(client, shape, short)
            print(f"| {name} | {per} | {usage} | {encoding.decode() if isinstance(encoding, bytes) else encoding} |")


if __name__ == "__main__":
    main()
