"""rspamd's own recursive resolver: unbound on a loopback address of its own (resolver = "local").

Blocklists refuse the shared and public resolvers a fresh VPS uses, so rspamd asks a resolver that
runs on the host for rspamd alone. The system's resolver is not touched: unbound's hooks that would
make it the system's resolver are masked before the package is installed, and it listens only on
layout.RESOLVER_ADDRESS. This step runs before the packages are installed: unbound's package comes
in the deploy's main transaction (repos.install) and starts with this configuration already there.
"""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import layout

from . import files, system
from .activate import Changes, reload
from .context import HostContext
from .templating import render


@deploy("Resolver for rspamd")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    if settings.resolver != "local":
        return {}  # rspamd uses /etc/resolv.conf
    for hook in platform.unbound_system_hooks:
        system.unit_masked(
            name=f"unbound: {hook} masked (the system's resolver stays as it is)", unit=hook, reads=ctx.reads
        )
    files.directory(
        name="unbound: configuration directory",
        path=platform.unbound_conf_dir,
        user="root",
        group="root",
        mode=755,
        reads=ctx.reads,
    )
    dropin = files.text_file(
        name=f"unbound: {layout.RESOLVER_CONF}",
        path=f"{platform.unbound_conf_dir}/{layout.RESOLVER_CONF}",
        content=render(f"unbound/{layout.RESOLVER_CONF}.j2", layout=layout),
        backup="unbound",
        reads=ctx.reads,
    )
    return {reload("unbound"): [dropin]}
