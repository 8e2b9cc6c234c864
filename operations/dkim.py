"""DKIM keys: generated once per domain, owned by _rspamd, never replaced."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from mailguard import dkim
from mailguard.layout import dkim_key_path
from mailguard.platforms import Platform

from . import generic, hoststate
from .activate import Changes, reload
from .hoststate import operation_reading


# The public half too: the DNS report after a run that changed nothing reads it from the same snapshot.
@operation_reading(lambda path, *a, **k: [("stat", path), ("pubkey", path)])
def dkim_key(path: str, bits: int, user: str, group: str):
    """Generate a DKIM private key only when none exists: a published record depends on it."""
    meta = hoststate.snapshot(("stat", path)).stat(path)
    if generic.planted_link(meta, path):
        return
    if meta:
        commands = list(generic.metadata_commands(path, meta, user, group, 600))
        if not commands:
            host.noop(f"{path} exists (never replaced)")
            return
        yield from commands
        return
    yield from generic.install_file(dkim.generate_private_key_pem(bits), path, (user, group, 600), replace=False)


@deploy("DKIM keys")
def keys(settings, platform: Platform) -> Changes:
    user, group = platform.rspamd_user, platform.rspamd_group
    directory = generic.directory(
        name="DKIM: key directory",
        path=f"{platform.rspamd_db_dir}/dkim",
        user=user,
        group=group,
        mode=750,
    )
    created = [directory]
    for domain in settings.domains:
        created.append(
            dkim_key(
                name=f"DKIM: key for {domain} (selector {settings.selector_for(domain)})",
                path=dkim_key_path(platform.rspamd_db_dir, domain, settings.selector_for(domain)),
                bits=settings.dkim_key_bits,
                user=user,
                group=group,
            )
        )
    return {reload("rspamd"): created}
