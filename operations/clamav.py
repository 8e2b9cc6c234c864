"""ClamAV: scan.conf as the seed edits it, a first signature download, clamd reachable by rspamd."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard.platforms import Platform

from . import edits, preflight


@deploy("ClamAV")
def configure(settings, platform: Platform):
    if not settings.antivirus:
        return {}
    directives = list(platform.clamd_settings)
    if not preflight.resources(settings).clamd_concurrent_reload:
        directives.append(("ConcurrentDatabaseReload", ("no",)))  # one signature copy in memory, not two
    conf = edits.directives_file(
        name=f"ClamAV: edit {platform.clamd_conf}",
        paths=[platform.clamd_conf],
        settings=directives,
        disabled=platform.clamd_disabled,
    )
    db = platform.clamav_db_dir
    # clamd will not start without signatures; freshclam's unit may not have run yet.
    edits.command_unless_files(
        name="ClamAV: first signature download when there is none",
        globs=[f"{db}/*.cvd", f"{db}/*.cld", f"{db}/*.hdb"],
        # The freshclam daemon holds freshclam's lock: stop it for the first download.
        command=f"systemctl stop {platform.freshclam_unit} && freshclam --quiet",
        reason="a signature database exists",
    )
    membership = edits.group_member(
        name=f"Add {platform.rspamd_user} to {platform.clamd_socket_group}",
        user=platform.rspamd_user,
        groups=[platform.clamd_socket_group],
    )
    for boolean in platform.selinux_booleans:
        edits.selinux_boolean(name=f"SELinux: {boolean} on", boolean=boolean)
    return {"clamav_restart": [conf], "rspamd_restart": [membership]}
