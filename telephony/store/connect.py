"""A redis-py client from REDIS_URL: one server, a Redis Cluster, or a Sentinel-watched master.

    redis://[:password@]host:port[/db]       rediss:// for TLS, unix:///path.sock
    redis+cluster://[:password@]host:port[,host:port...]     rediss+cluster:// for TLS
    redis+sentinel://[:password@]host:port[,host:port...]/<service>   rediss+sentinel:// for TLS

A cluster is discovered from any of the nodes listed; a Sentinel client asks the sentinels for
the current master of `<service>` and follows it through failovers. The password (and user) in the
URL is the data nodes'; sentinels are asked with the same credentials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")
# Fail fast (the caller answers 503) rather than hold a request while a node does not answer.
OPTIONS: dict[str, Any] = {"decode_responses": True, "socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def check_url(url: str) -> str | None:
    """Why `url` cannot be a REDIS_URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return f"must start with one of {', '.join(s + '://' for s in SCHEMES)}"
    if "+" in parts.scheme:
        try:
            _nodes(parts.netloc)
        except ValueError as exc:
            return str(exc)
        if parts.scheme.endswith("sentinel") and not parts.path.strip("/"):
            return "names the Sentinel service after the nodes: redis+sentinel://host:26379/mymaster"
    return None


def connect(url: str) -> redis.Redis | RedisCluster:
    parts = urlsplit(url)
    scheme = parts.scheme
    if "+" not in scheme:
        return redis.Redis.from_url(url, health_check_interval=30, **OPTIONS)
    credentials: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": scheme.startswith("rediss"),
    }
    nodes = _nodes(parts.netloc)
    if scheme.endswith("cluster"):
        startup = [ClusterNode(h, p) for h, p in nodes]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=startup, **credentials, **OPTIONS)
    sentinels = Sentinel(nodes, sentinel_kwargs={**credentials, "socket_timeout": 2.0}, **OPTIONS)  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinels.master_for(parts.path.strip("/"), **credentials, **OPTIONS)  # type: ignore[no-untyped-call]
    return master


def _nodes(netloc: str) -> list[tuple[str, int]]:
    hosts = netloc.rpartition("@")[2]
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"lists host:port nodes separated by commas (got {node!r})")
        nodes.append((host.strip("[]"), int(port)))
    return nodes
