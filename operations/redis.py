"""Redis: on the unix socket the seed's rspamd settings use; in a group of MX hosts
(redis_primary), the primary also listens on its private address and every other host's Redis
is its replica. Replication itself is Redis's own (replicaof), nothing is copied by hand."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from mailguard import layout
from mailguard.settings import REDIS_PORT, Settings

from . import edits, files, system
from .activate import Changes, restart
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading


def auth_text(settings: Settings) -> str:
    """The included file: the group's password and, on a replica, whose replica it is."""
    lines = [layout.MANAGED_MARK + " (pyinfra): the group's Redis password; root and Redis only."]
    if settings.redis_role == "standalone":
        lines.append("# No replication: this Redis is on its unix socket only.")
    else:
        lines += [f"requirepass {settings.redis_password}", f"masterauth {settings.redis_password}"]
    if settings.redis_role == "replica":
        lines += [f"replicaof {settings.redis_primary} {REDIS_PORT}", "replica-read-only yes"]
    return "\n".join(lines) + "\n"


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
    # port 0: no TCP listener (nothing but the group's replicas and rspamds uses TCP, and only the primary's).
    port = (
        [("port", [str(REDIS_PORT)]), ("bind", [settings.private_address])] if role == "primary" else [("port", ["0"])]
    )
    auth = auth_file(
        name=f"Redis: replication ({role})",
        path=layout.REDIS_AUTH_CONF,
        content=auth_text(settings),
        replicated=role != "standalone",
        group=platform.redis_group,
        reads=ctx.reads,
    )
    socket = edits.directives_file(
        name="Redis: unix socket for rspamd"
        + (f", port {REDIS_PORT} on {settings.private_address}" if role == "primary" else ", no TCP port"),
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
    return {restart("redis"): [auth, socket], restart("rspamd"): [membership]}
