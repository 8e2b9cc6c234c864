"""DKIM keys: generated once per domain, owned by _rspamd, never replaced."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import dkim
from mailguard.platforms import Platform

from . import edits


@deploy("DKIM keys")
def keys(settings, platform: Platform):
    user, group = platform.rspamd_user, platform.rspamd_group
    directory = edits.directory(
        name="DKIM: key directory",
        path=f"{platform.rspamd_db_dir}/dkim",
        user=user,
        group=group,
        mode=750,
    )
    created = [directory]
    for domain in settings.domains:
        created.append(
            edits.dkim_key(
                name=f"DKIM: key for {domain} (selector {settings.dkim_selector})",
                path=dkim.key_path(platform.rspamd_db_dir, domain, settings.dkim_selector),
                bits=settings.dkim_key_bits,
                user=user,
                group=group,
            )
        )
    return {"rspamd_reload": created}
