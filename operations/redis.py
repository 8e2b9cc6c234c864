"""Redis listens on the unix socket the seed's rspamd settings use."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard.platforms import Platform

from . import generic
from .activate import Changes, restart


@deploy("Redis")
def configure(settings, platform: Platform) -> Changes:
    socket = generic.directives_file(
        name="Redis: unix socket for rspamd, no TCP port",
        paths=list(platform.redis_conf_candidates),
        # port 0: no TCP listener once the socket is there (nothing of ours uses TCP).
        settings=[("unixsocket", [platform.redis_socket]), ("unixsocketperm", ["770"]), ("port", ["0"])],
    )
    membership = generic.group_member(
        name=f"Add {platform.rspamd_user} to {platform.redis_group}",
        user=platform.rspamd_user,
        groups=[platform.redis_group],
    )
    return {restart("redis"): [socket], restart("rspamd"): [membership]}
