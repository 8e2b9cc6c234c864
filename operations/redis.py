"""Redis: on the unix socket the seed's rspamd settings use; in a group of MX hosts
(redis_primary), every other host's Redis is the primary's replica, reached through the group's
tunnel. Replication itself is Redis's own (replicaof), nothing is copied by hand. In a group of
three or more the group's sentinels choose the primary (mailguard/sentinel.py): each Redis then
listens on its host's group loopback address too, and no file says whose replica it is."""

from __future__ import annotations

import ipaddress
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations.util import any_changed

from mailguard import layout, redis_acl, sentinel
from mailguard.platforms import Platform
from mailguard.settings import REDIS_PORT, Settings

from . import edits, files, system, tunnel
from .activate import Changes, restart, will_or_did_change
from .commands import Command
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading
from .templating import render


def auth_text(settings: Settings, platform: Platform) -> str:
    """The included file: in a group, its Redis users (redis_acl) and how this Redis replicates."""
    if settings.redis_role == "standalone":
        return layout.MANAGED_MARK + " (pyinfra).\n# No replication: this Redis is on its unix socket only.\n"
    username_sent = platform.installs_rspamd_3_12(settings.rspamd_source)
    if settings.redis_failover:
        assert settings.private_address is not None
        announce = (sentinel.loopback(settings.private_address), sentinel.REDIS_PORT)
        return redis_acl.auth_text(settings.redis_password, username_sent, announce=announce)
    # a replica of a fixed primary replicates through its end of the group's tunnel
    replica_of = (layout.TUNNEL_HOST, layout.TUNNEL_PORT) if settings.redis_role == "replica" else None
    return redis_acl.auth_text(settings.redis_password, username_sent, replica_of=replica_of)


def listener(settings: Settings) -> list[tuple[str, list[str]]]:
    """redis.conf's TCP listener: none (port 0: a group's hosts reach a fixed primary through its
    tunnel, which hands each connection to the socket), or where sentinels choose the primary, the
    host's group loopback address, where the sentinels and the other hosts' tunnels reach it."""
    if not settings.redis_failover:
        return [("port", ["0"])]
    assert settings.private_address is not None
    return [("bind", [sentinel.loopback(settings.private_address)]), ("port", [str(sentinel.REDIS_PORT)])]


@files.leaves("whole", lambda path, *a, **k: [path], service="redis")
@operation_reading(lambda path, *a, **k: [("stat", path)])
def auth_file(path: str, content: str, replicated: bool, group: str, *, reads: HostReads, state: Snapshot):
    """The password file: written where replication is on, emptied where it was on before."""
    current = state.stat(path)
    if files.planted_link(reads, current, path):
        return
    if current is None and not replicated:
        host.noop(f"{path}: no replication here")
        return
    commands = files.file_commands(path, content, current, "root", group, 640)
    if not commands:
        host.noop(f"{path} is up to date")
    yield from commands


@deploy("Redis")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    role = settings.redis_role
    auth = auth_file(
        name=f"Redis: users and replication ({role})",
        path=layout.REDIS_AUTH_CONF,
        content=auth_text(settings, platform),
        replicated=role != "standalone",
        group=platform.redis_group,
        reads=ctx.reads,
    )
    _client_credentials(ctx)
    socket = edits.directives_file(
        name="Redis: unix socket for rspamd, "
        + ("the group loopback address" if settings.redis_failover else "no TCP port"),
        paths=list(platform.redis_conf_candidates),
        values=[("unixsocket", [platform.redis_socket]), ("unixsocketperm", ["770"]), *listener(settings)],
        added=[("include", layout.REDIS_AUTH_CONF)] if role != "standalone" else [],
        service="redis",
        reads=ctx.reads,
    )
    membership = system.group_member(
        name=f"Add {platform.rspamd_user} to {platform.redis_group}",
        user=platform.rspamd_user,
        groups=[platform.redis_group],
        reads=ctx.reads,
    )
    drop_in = _read_only_config(ctx) if role != "standalone" else []
    _fence(ctx)
    tunnel_files = tunnel.configure(ctx) if role != "standalone" else []
    sentinel_files = _sentinel(ctx) if role != "standalone" else []
    return {
        restart("redis"): [auth, socket, *drop_in],
        restart("rspamd"): [membership],
        restart("tunnel"): tunnel_files,
        restart("sentinel"): sentinel_files,
    }


def _read_only_config(ctx: HostContext) -> list[Any]:
    """Where sentinels choose the primary, redis.conf read-only to Redis (layout.REDIS_DROP_IN says why)."""
    platform = ctx.platform
    unit = f"{platform.redis_unit}.service"
    if not ctx.settings.redis_failover:
        path = f"{layout.UNIT_DIR}/{unit}.d/{layout.REDIS_DROP_IN}"
        absent = files.file_absent(name=f"Redis: may rewrite its configuration ({path} absent)", path=path,
                                   reads=ctx.reads)  # fmt: skip
        system.units_reloaded(name="Redis: systemd reads its unit again", _if=any_changed(absent))
        return [absent]
    return system.unit_files(
        "Redis: its configuration read-only to it (the sentinels' CONFIG REWRITE fails)",
        [layout.REDIS_DROP_IN],
        ctx.reads,
        drop_in_for=unit,
        platform=platform,
        layout=layout,
    )


@files.leaves("whole", lambda seed, live, *a, **k: [live])
@operation_reading(lambda seed, live, *a, **k: [("stat", live)])
def sentinel_state(seed: str, live: str, user: str, seed_ops: list[Any], *, state: Snapshot):
    """The sentinel's own configuration, put in place from ``seed`` where it has none yet or the
    seed changed in this run. Written as ``user`` (the sentinel's directory is its own: root
    writes nothing there)."""
    if state.stat(live) is not None and not will_or_did_change(seed_ops):
        host.noop(f"{live} is the sentinel's own: kept")
        return
    yield Command("runuser", "-u", user, "--", "install", "-m", "600", "--", seed, live)


def _sentinel(ctx: HostContext) -> list[Any]:
    """In a group of three or more, the group's sentinels (mailguard/sentinel.py); in a smaller or
    unknown group, none, and one line saying what the group gets instead."""
    settings, platform = ctx.settings, ctx.platform
    if not settings.redis_failover:
        if settings.group_addresses and settings.redis_role == "primary":
            logger.warning(
                f"{ctx.name}: a group of {len(settings.group_addresses)} hosts cannot have a Sentinel quorum "
                f"(it needs {sentinel.MIN_HOSTS}): {settings.redis_primary} stays the Redis primary; should it "
                "be lost, set redis_primary to another host's private_address and rerun"
            )
        system.service(name="Sentinel: none in this group", unit=layout.SENTINEL_UNIT, running=False, enabled=False,
                       reads=ctx.reads)  # fmt: skip
        return []
    assert settings.private_address is not None and settings.redis_primary is not None
    members = list(settings.group_addresses)
    _say_primary(ctx)
    seed = files.text_file(
        name=f"Sentinel: the starting configuration (quorum {sentinel.quorum(len(members))} of {len(members)})",
        path=layout.SENTINEL_SEED,
        content=sentinel.seed_text(
            settings.redis_password, settings.private_address, members, settings.redis_primary, layout.SENTINEL_DIR
        ),
        secret=True,
        group=platform.redis_group,
        mode=640,
        reads=ctx.reads,
    )
    files.directory(name=f"Sentinel: {layout.SENTINEL_DIR}", path=layout.SENTINEL_DIR, user=platform.redis_user,
                    group=platform.redis_group, mode=700, reads=ctx.reads)  # fmt: skip
    live = sentinel_state(
        name=f"Sentinel: {layout.SENTINEL_CONF} from the starting configuration where it has none or that changed",
        seed=layout.SENTINEL_SEED,
        live=layout.SENTINEL_CONF,
        user=platform.redis_user,
        seed_ops=[seed],
        reads=ctx.reads,
    )
    units = system.unit_files("Sentinel", [layout.SENTINEL_UNIT], ctx.reads, platform=platform, layout=layout)
    return [seed, live, *units]


def _say_primary(ctx: HostContext) -> None:
    """One line: which host is the group's Redis primary, as this host's sentinel said when the run began."""
    settings = ctx.settings
    answer = ctx.system.get("sentinel_primary") or ""
    by_loopback = {sentinel.loopback(a): a for a in settings.group_addresses}
    if answer in by_loopback:
        logger.info(f"{ctx.name}: the group's Redis primary is {by_loopback[answer]} (its sentinel's answer)")
    else:
        logger.info(
            f"{ctx.name}: the group's Redis primary is {settings.redis_primary} (redis_primary: "
            "no sentinel answered yet)"
        )


def _client_credentials(ctx: HostContext) -> None:
    """The user the deploy's own tools log in as, where Redis has users; none where it has not."""
    if ctx.settings.redis_role == "standalone":
        files.file_absent(name=f"Redis: no users, no {layout.REDIS_CLIENT_AUTH}", path=layout.REDIS_CLIENT_AUTH,
                          reads=ctx.reads)  # fmt: skip
        return
    files.text_file(
        name=f"Redis: the deploy's own user ({redis_acl.ADMIN})",
        path=layout.REDIS_CLIENT_AUTH,
        content=redis_acl.client_text(ctx.settings.redis_password),
        secret=True,
        user="root",
        group="root",
        mode=600,
        reads=ctx.reads,
    )


def group_ports(settings: Settings) -> list[int]:
    """The ports a group's hosts reach one another on: Redis's, and the sentinels' where they run."""
    return [REDIS_PORT, sentinel.PORT] if settings.redis_failover else [REDIS_PORT]


def fence_rules(settings: Settings) -> str:
    """The fence's nftables rules: the group's Redis port (and its sentinels', where they choose the
    primary) for the group's hosts and loopback only."""
    addresses = [ipaddress.ip_address(a) for a in settings.group_addresses]
    ports = group_ports(settings)
    return render(
        "nftables/mailguard-fence.nft.j2",
        port=str(REDIS_PORT) if len(ports) == 1 else "{ " + ", ".join(map(str, ports)) + " }",
        ipv4=[str(a) for a in addresses if a.version == 4],
        ipv6=[str(a) for a in addresses if a.version == 6],
    )


@operation_reading(lambda unit, *a, **k: [("unit", unit)])
def fence_reloaded(unit: str, nft: str, rules: str, *, state: Snapshot):
    """New rules checked by nft, then loaded by the running fence (one transaction: rules that do
    not load leave the ones in force). A fence that is not running yet loads them as it starts."""
    if not state.unit(unit)["running"]:
        host.noop(f"{unit} is not running: it loads {rules} as it starts")
        return
    yield Command(nft, "--check", "--file", rules)
    yield Command("systemctl", "reload", unit)


def _fence(ctx: HostContext) -> None:
    """Where a group is known (an inventory's hosts that share a redis_primary), each host fences the
    group's Redis port: the primary listens on it now, and any host may be the primary later."""
    settings, platform = ctx.settings, ctx.platform
    if settings.redis_role == "standalone":
        return
    if not settings.group_addresses:
        logger.warning(
            f"{ctx.name}: Redis port {REDIS_PORT}: not fenced (the group's hosts are known only when one "
            "inventory, MAIL_INVENTORY, lists them all)"
        )
        return
    admitted = ", ".join(settings.group_addresses)
    ports = group_ports(settings)
    sentinels = f" and Sentinel port {sentinel.PORT}" if settings.redis_failover else ""
    rules = files.text_file(
        name=f"Fence: Redis port {REDIS_PORT}{sentinels} for {admitted} only",
        path=layout.FENCE_RULES,
        content=fence_rules(settings),
        reads=ctx.reads,
    )
    system.unit_files("Fence", [layout.FENCE_UNIT], ctx.reads, platform=platform, layout=layout)
    fence_reloaded(
        name="Fence: new rules loaded",
        unit=layout.FENCE_UNIT,
        nft=platform.nft_binary,
        rules=layout.FENCE_RULES,
        reads=ctx.reads,
        _if=any_changed(rules),
    )
    system.service(name="Fence: in force, and at boot", unit=layout.FENCE_UNIT, reads=ctx.reads)
    if platform.firewall_unit:  # firewalld drops what it does not allow: the fence admits, it must too
        system.firewall_sources(
            name=f"{platform.firewall_unit}: the group's hosts admitted to {'/'.join(map(str, ports))}",
            unit=platform.firewall_unit,
            addresses=[a for a in settings.group_addresses if a != settings.private_address],
            ports=ports,
            reads=ctx.reads,
        )
