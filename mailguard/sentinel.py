"""A group's failover (issue #37): Redis Sentinel, shipped with Redis, on every host of a group of
three or more. The sentinels watch the primary; when a quorum of them cannot reach it, they
promote a replica and make the others (and the old primary, once it is back) its replicas. rspamd
asks them which host is the primary (lua_redis's ``sentinels``) and writes there.

Sentinel tells everyone an address: the one each Redis and each sentinel announces. A group's
hosts reach one another only through the group's TLS tunnel, so every host of the group gets a
loopback address of its own, the same on every host (derived from its private_address): its Redis
and its sentinel listen there, and on every other host the tunnel takes that address and carries
what it receives to that host. An address Sentinel hands out then means the same host wherever it
is used.

Two hosts cannot make a quorum (a sentinel alone cannot tell the primary's loss from its own
isolation), so a group of two keeps the primary its settings name.
"""

from __future__ import annotations

import hashlib
import ipaddress

from . import redis_acl
from .layout import MANAGED_MARK

MIN_HOSTS = 3
MASTER = "mailguard"  # the name the sentinels know the group's primary by
PORT = 26379  # each sentinel's port, on its host's group loopback address
REDIS_PORT = 6379  # the group's Redis port: on each host's private_address (its tunnel) and loopback address
# A primary that has not answered for this long is down in this sentinel's eyes; with a quorum
# agreeing, the failover starts.
DOWN_AFTER_MS = 5000
FAILOVER_TIMEOUT_MS = 30000
# How often rspamd asks its host's sentinel (it also asks once writes to the primary fail three
# times). rspamd 3.x takes no sentinel_watch_time from local.d/redis.conf and asks each minute.
RSPAMD_WATCH = "5s"

# Each sentinel logs in to the group's Redis as this user (the commands a sentinel sends:
# https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#redis-access-control-list-authentication),
# and to the other sentinels as PEER.
PEER = "mailguard-sentinel-peer"
# Anyone on a host may ask its sentinel where the primary is (rspamd 3.4 cannot log in to a
# sentinel): that and nothing else.
QUESTIONS = (
    "-@all +ping +sentinel|get-master-addr-by-name +sentinel|masters +sentinel|master "
    "+sentinel|replicas +sentinel|slaves +sentinel|sentinels"
)


def loopback(private_address: str) -> str:
    """The host's address inside the group: 127.a.b.c from the SHA-256 of its private_address
    (never 127.0.0.x, the host's own loopback, and never .0 or .255)."""
    digest = hashlib.sha256(f"mailguard group {ipaddress.ip_address(private_address)}".encode()).digest()
    return f"127.{1 + digest[0] % 254}.{digest[1]}.{1 + digest[2] % 254}"


def clashes(addresses: list[str]) -> list[tuple[str, str]]:
    """Pairs of private addresses that would share a loopback address (one in 16 million)."""
    seen: dict[str, str] = {}
    found = []
    for address in addresses:
        mine = loopback(address)
        if mine in seen and seen[mine] != address:
            found.append((seen[mine], address))
        seen.setdefault(mine, address)
    return found


def quorum(hosts: int) -> int:
    """Sentinels that must agree the primary is lost: a majority, so a split never promotes twice."""
    return hosts // 2 + 1


def rspamd_sentinel(own: str) -> str:
    """lua_redis's ``sentinels``: this host's own sentinel only. It always answers (no other host's
    loss can delay it), and it knows what the group's sentinels agreed; rspamd would otherwise ask
    them in turn, the lost host's among them, and wait out each failed question."""
    return f"{loopback(own)}:{PORT}"


def seed_text(secret: str, own: str, members: list[str], primary: str, state_dir: str) -> str:
    """The sentinel's starting configuration on the host at ``own`` (every address is a
    private_address). Sentinel rewrites its configuration as it learns (the other sentinels, the
    replicas, each failover): the deploy writes this seed, and puts it in place only where the
    sentinel has none yet or the seed changed (operations/redis.py)."""
    here = loopback(own)
    lines = [
        f"{MANAGED_MARK} (pyinfra): the sentinel's starting configuration; the sentinel keeps its own",
        f"# in {state_dir}, rewritten as it learns. Root and Redis only: it holds passwords.",
        f"bind {here}",
        f"port {PORT}",
        f"dir {state_dir}",
        "sentinel resolve-hostnames no",
        f"sentinel announce-ip {here}",
        f"sentinel announce-port {PORT}",
        f"user default reset on nopass {QUESTIONS}",
        f"user {PEER} reset on {redis_acl.hashed(secret, PEER)} +@all",
        f"sentinel sentinel-user {PEER}",
        f"sentinel sentinel-pass {redis_acl.password(secret, PEER)}",
        f"sentinel monitor {MASTER} {loopback(primary)} {REDIS_PORT} {quorum(len(members))}",
        f"sentinel auth-user {MASTER} {redis_acl.SENTINEL}",
        f"sentinel auth-pass {MASTER} {redis_acl.password(secret, redis_acl.SENTINEL)}",
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {MASTER} 1",
    ]
    # The replicas it starts with: a new host's Redis starts as a primary of its own, and a
    # sentinel that knows it as a replica makes it one.
    lines += [f"sentinel known-replica {MASTER} {loopback(a)} {REDIS_PORT}" for a in sorted(members) if a != primary]
    return "\n".join(lines) + "\n"
