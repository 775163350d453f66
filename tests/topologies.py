"""Real Redis topologies for the tests: a 3-primary Cluster and a Sentinel-watched primary with a
replica and three sentinels, each started with `redis-server` on free ports and stopped after the
session. The URLs are REDIS_URL values the app takes as they are."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus ports (+10000) are free too: a node's port must be 55535 or less."""
    ports: list[int] = []
    while len(ports) < n:
        port = random.randrange(20000, 45000)
        if port not in ports and all(_free(p) for p in (port, port + 10000)):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(check: Callable[[], bool], what: str, seconds: float = 15, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            said = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} did not come up in {seconds} s\n{said}")
        time.sleep(0.05)


class Topology:
    """Processes started for one topology, and how to empty and stop them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.url = ""
        self.data_ports: list[int] = []

    def spawn(self, *args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (the README says how to get it)")
        self.processes.append(subprocess.Popen([binary, *args], cwd=self.workdir, stdout=subprocess.DEVNULL))

    def flush(self) -> None:
        for port in self.data_ports:
            client = redis.Redis(port=port)
            if client.info("replication")["role"] == "master":
                client.flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)


def start_cluster(workdir: Path, *, replicas: bool = False) -> Topology:
    """Three primaries (each with a replica and AOF on when asked, for failover tests)."""
    topology = Topology(workdir)
    ports = cluster_ports(6 if replicas else 3)
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if replicas else ["--appendonly", "no"]
    for port in ports:
        topology.spawn("--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                       "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "2000",
                       "--save", "", "--appenddirname", f"aof-{port}", *durability, "--logfile", f"{port}.log")  # fmt: skip
    for port in ports:
        _wait(lambda p=port: bool(redis.Redis(port=p).ping()), f"cluster node {port}", log=workdir / f"{port}.log")
    first = redis.Redis(port=ports[0])
    slots = [(0, 5460), (5461, 10922), (10923, 16383)]
    for port, (low, high) in zip(ports, slots, strict=False):
        redis.Redis(port=port).execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
    for port in ports[1:]:
        first.execute_command("CLUSTER", "MEET", "127.0.0.1", port)
    known = f"cluster_known_nodes:{len(ports)}".encode()

    def settled(port: int) -> bool:  # every node knows the others and sees every slot served
        info = redis.Redis(port=port).execute_command("CLUSTER", "INFO")
        return all(f in info for f in (b"cluster_state:ok", known, b"cluster_slots_ok:16384"))

    for port in ports:
        _wait(lambda p=port: settled(p), "the cluster")
    for primary, replica in zip(ports[:3], ports[3:], strict=False):
        node_id = redis.Redis(port=primary).execute_command("CLUSTER", "MYID").decode()
        redis.Redis(port=replica).execute_command("CLUSTER", "REPLICATE", node_id)
        _wait(lambda r=replica: redis.Redis(port=r).info("replication").get("master_link_status") == "up",
              "a replica")  # fmt: skip
    topology.data_ports = ports
    topology.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    return topology


def start_sentinel(workdir: Path) -> Topology:
    topology = Topology(workdir)
    primary, replica, *sentinels = free_ports(5)
    for port in (primary, replica):
        extra = ["--replicaof", "127.0.0.1", str(primary)] if port == replica else []
        topology.spawn("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--logfile", f"{port}.log", *extra)  # fmt: skip
    _wait(lambda: redis.Redis(port=replica).info("replication").get("master_link_status") == "up", "the replica")
    for port in sentinels:
        conf = workdir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\nsentinel monitor otp 127.0.0.1 {primary} 2\n"
            "sentinel down-after-milliseconds otp 1000\nsentinel failover-timeout otp 5000\n"
        )
        topology.spawn(str(conf), "--sentinel", "--logfile", f"sentinel-{port}.log")
    for port in sentinels:
        _wait(lambda p=port: redis.Redis(port=p).sentinel_get_master_addr_by_name("otp") is not None, "sentinels")
    topology.data_ports = [primary, replica]
    topology.url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/otp"
    return topology
