"""ClamAV: scan.conf as the seed edits it, a first signature download, clamd reachable by rspamd."""

from __future__ import annotations

from pyinfra.api import deploy

from . import edits, files, preflight, system
from .activate import Changes, restart
from .commands import script
from .context import HostContext

FRESHCLAM_TRIES = 3


@deploy("ClamAV")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    if not settings.antivirus:
        return {}
    directives = list(platform.clamd_settings)
    if not preflight.resources(ctx).clamd_concurrent_reload:
        directives.append(("ConcurrentDatabaseReload", ("no",)))  # one signature copy in memory, not two
    conf = edits.directives_file(
        name=f"ClamAV: edit {platform.clamd_conf}",
        paths=[platform.clamd_conf],
        values=directives,
        disabled=platform.clamd_disabled,
        service="clamav",
        reads=ctx.reads,
    )
    changed = [conf]
    if platform.clamd_log_file:
        path, user, group = platform.clamd_log_file
        changed.append(
            files.text_file_exists(
                name=f"ClamAV: {path} writable by {user}", path=path, user=user, group=group, mode=640, reads=ctx.reads
            )
        )
    db = platform.clamav_db_dir
    system.command_unless_files(
        name="ClamAV: first signature download when there is none",
        globs=[f"{db}/*.cvd", f"{db}/*.cld", f"{db}/*.hdb"],
        command=script("first-signatures", platform.freshclam_unit, str(FRESHCLAM_TRIES)),
        reason="a signature database exists",
        reads=ctx.reads,
    )
    membership = system.group_member(
        name=f"Add {platform.rspamd_user} to {platform.clamd_socket_group}",
        user=platform.rspamd_user,
        groups=[platform.clamd_socket_group],
        reads=ctx.reads,
    )
    return {restart("clamav"): changed, restart("rspamd"): [membership]}
