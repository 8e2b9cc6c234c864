"""Redis: on the unix socket the seed's rspamd settings use; in a group of MX hosts
(redis_primary), the primary also listens on its private address and every other host's Redis
is its replica. Replication itself is Redis's own (replicaof), nothing is copied by hand."""

from __future__ import annotations

import ipaddress

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations.util import any_changed

from mailguard import layout, redis_acl
from mailguard.platforms import Platform
from mailguard.settings import REDIS_PORT, Settings

from . import edits, files, system, tunnel
from .activate import Changes, restart
from .commands import Command
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading
from .templating import render


def auth_text(settings: Settings, platform: Platform) -> str:
    """The included file: in a group, its Redis users (redis_acl) and, on a replica, whose replica it is."""
    if settings.redis_role == "standalone":
        return layout.MANAGED_MARK + " (pyinfra).\n# No replication: this Redis is on its unix socket only.\n"
    return redis_acl.auth_text(
        settings.redis_password,
        # a replica replicates through its end of the group's tunnel
        layout.TUNNEL_HOST if settings.redis_role == "replica" else None,
        layout.TUNNEL_PORT,
        platform.rspamd_sends_redis_username(settings.rspamd_source),
    )


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
    # port 0: no TCP listener (a group's hosts reach the primary through its tunnel, which hands
    # each connection to this socket).
    port = [("port", ["0"])]
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
        name="Redis: unix socket for rspamd, no TCP port",
        paths=list(platform.redis_conf_candidates),
        values=[("unixsocket", [platform.redis_socket]), ("unixsocketperm", ["770"]), *port],
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
    _fence(ctx)
    tunnel_files = tunnel.configure(ctx) if role != "standalone" else []
    return {restart("redis"): [auth, socket], restart("rspamd"): [membership], restart("tunnel"): tunnel_files}


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


def fence_rules(settings: Settings) -> str:
    """The fence's nftables rules: the group's Redis port for the group's hosts and loopback only."""
    addresses = [ipaddress.ip_address(a) for a in settings.group_addresses]
    return render(
        "nftables/mailguard-fence.nft.j2",
        port=REDIS_PORT,
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
    rules = files.text_file(
        name=f"Fence: Redis port {REDIS_PORT} for {admitted} only",
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
