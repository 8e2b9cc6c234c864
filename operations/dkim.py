"""DKIM keys over their life: generated once per domain, owned by _rspamd, never replaced; and
rotated in stages by dkim_rotate.py, which switches signing only once DNS serves the new key."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from mailguard import dkim, layout, names, opendkim
from mailguard import settings as settings_module
from mailguard.layout import dkim_dir, dkim_key_path
from mailguard.platforms import Platform

from . import files, hoststate, readhost
from .activate import Changes, reload
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading
from .profile import system_profile


def opendkim_keys(ctx: HostContext) -> dict[str, opendkim.OpenDkimKey]:
    """The keys an OpenDKIM on the host signs the domains with (its KeyTable and SigningTable).

    Their selectors and paths become rspamd's: one that fails its grammar stops the run before
    anything changes (KeyConflict, one line naming it)."""
    texts = ctx.system["texts"]
    conf = texts.get(opendkim.CONF)
    keys = opendkim.signing_keys(conf, texts, ctx.settings.domains) if conf else {}
    for domain, key in keys.items():
        problem = None if names.SELECTOR_RE.fullmatch(key.selector) else "is not a DKIM selector"
        if problem:
            what = f"selector {key.selector!r}"
        else:
            what, problem = f"key path {key.path!r}", names.path_problem(key.path)
        if problem:
            raise KeyConflict(
                f"mailguard: {ctx.name}: OpenDKIM's KeyTable gives {domain} the {what}: {problem}; nothing was changed"
            )
    return keys


def key_states(ctx: HostContext) -> dict[str, dkim.KeyState]:
    """Each domain's keys on this host: as the last rotation left them, else OpenDKIM's key where
    OpenDKIM signs the domain, else the settings' selector. An Ed25519 key already on the host
    that no state names was made by a deploy that signed with it at once: it keeps signing."""
    settings, db_dir = ctx.settings, ctx.platform.rspamd_db_dir
    recorded = ctx.system["texts"].get(layout.DKIM_STATE)
    imported = opendkim_keys(ctx)

    def selector(domain: str) -> str:
        return imported[domain].selector if domain in imported else settings.selector_for(domain)

    states = dkim.states_for(settings.domains, selector, recorded)
    for domain, state in states.items():
        beside = dkim_key_path(db_dir, domain, dkim.ed25519_selector(state.signing))
        if settings.dkim_ed25519 and state.ed25519 is None and beside in ctx.system["dkim_keys"]:
            states[domain] = dataclasses.replace(state, ed25519="signing")
    return states


# What the deploy and status.py say of a domain with dkim_ed25519 on and no Ed25519 key yet
ED25519_PENDING = (
    "dkim_ed25519: no Ed25519 key yet: run dkim_rotate.py, which makes it and starts signing with it once "
    "every authoritative server serves its record"
)


class KeyConflict(PyinfraError):
    pass


@operation_reading(lambda source, path, *a, **k: [("stat", source), ("stat", path)])
def imported_key(source: str, path: str, user: str, group: str, *, reads: HostReads, state: Snapshot):
    """OpenDKIM's key copied for rspamd as it is (OpenDKIM keeps its own)."""
    if files.planted_link(reads, state.stat(path), path):
        return
    if state.stat(path):
        host.noop(f"{path} is OpenDKIM's key already")
        return
    yield from files.copy_host_file(source, path, (user, group, 600))


def _import_opendkim(ctx: HostContext) -> list[Any]:
    """For each domain OpenDKIM signs (and rspamd signs with that selector): its key, copied."""
    platform, states = ctx.platform, ctx.key_states
    imported = {d: k for d, k in opendkim_keys(ctx).items() if states[d].signing == k.selector}
    if not imported:
        return []
    paths = {d: dkim_key_path(platform.rspamd_db_dir, d, k.selector) for d, k in imported.items()}
    snap = ctx.reads.snapshot(*[w for d, k in imported.items() for w in (("stat", k.path), ("stat", paths[d]))])
    ops = []
    for domain, key in imported.items():
        source, here = snap.stat(key.path), snap.stat(paths[domain])
        if source is None or source["type"] != "regular file":
            what = "missing" if source is None else f"a {source['type']}"
            raise KeyConflict(
                f"mailguard: {ctx.name}: OpenDKIM's KeyTable names {key.path} for {domain}, which is {what}; "
                "nothing was changed"
            )
        if here and here["sha256"] != source["sha256"]:
            raise KeyConflict(
                f"mailguard: {ctx.name}: {paths[domain]} is another key than OpenDKIM's {key.path} for {domain} "
                f"(selector {key.selector}): a published record depends on one of them; nothing was changed"
            )
        ctx.reads.warn_once(
            f"{domain}: OpenDKIM signs it with {key.path} (selector {key.selector}): rspamd signs with that key "
            "as it is (no new key, no DNS change)"
        )
        ops.append(
            imported_key(
                name=f"DKIM: OpenDKIM's key for {domain} (selector {key.selector})",
                source=key.path,
                path=paths[domain],
                user=platform.rspamd_user,
                group=platform.rspamd_group,
                reads=ctx.reads,
            )
        )
    return ops


def _key_wants(path: str, *a, algorithm: str = "rsa", **k) -> list[tuple[str, str]]:
    # The public half too: the DNS report after a run that changed nothing reads it from the same snapshot.
    return [("stat", path), (hoststate.PUBKEY_KIND[algorithm], path)]


@operation_reading(_key_wants)
def dkim_key(
    path: str,
    supply: Callable[[], bytes],
    user: str,
    group: str,
    algorithm: str = "rsa",
    *,
    reads: HostReads,
    state: Snapshot,
):
    """A DKIM private key put in place only when none exists: a published record depends on it.
    ``supply()`` gives the key (the group's, see ``group_key``) when one is needed."""
    meta = state.stat(path)
    if files.planted_link(reads, meta, path):
        return
    if meta:
        commands = list(files.metadata_commands(path, meta, user, group, 600))
        if not commands:
            host.noop(f"{path} exists (never replaced)")
            return
        yield from commands
        return
    yield from files.install_file(supply(), path, (user, group, 600), replace=False)


# --- one key per domain for every host of a run -------------------------------------------------


def _signers(here: Host, domain: str) -> tuple[list[tuple[Host, Any]], list[str]]:
    """The run's hosts other than ``here`` that sign ``domain`` (with their settings), and the
    inventory's hosts that sign it but are not in this run (--limit)."""
    active = set(here.state.inventory.get_active_hosts())
    in_run, outside = [], []
    for other in here.state.inventory:
        if other is here:
            continue
        try:
            other_settings = settings_module.from_host_data(other.data)
        except settings_module.SettingsError:
            continue  # an admin's own inventory host that is no mail host of ours
        if domain in other_settings.domains:
            if other in active:
                in_run.append((other, other_settings))
            else:
                outside.append(other.name)
    return in_run, outside


def _carried(holder: Host, path: str, digest: str) -> bytes:
    """The key at ``path`` on ``holder``, read as root reads any file there (through a descriptor
    that is the regular file lstat saw) and never printed."""
    try:
        text = next(iter(hoststate.read_state(holder, [("text", path)]).get(("text", path), [])), "")
    except readhost.ReadError:
        text = ""
    data = base64.b64decode(text[4:]) if text.startswith("b64:") else b""
    if hashlib.sha256(data).hexdigest() != digest:
        raise KeyConflict(
            f"mailguard: {path} on {holder.name} changed or vanished while it was read; nothing was changed"
        )
    return data


def group_key(
    ctx: HostContext, domain: str, selector: str, path: str, make: Callable[[], bytes]
) -> Callable[[], bytes]:
    """What ``dkim_key`` puts at ``path`` where it is missing: the key the run's other hosts that
    sign ``domain`` hold (carried through the controller), else one made once for all of them.

    Raises KeyConflict, before anything changes, when two hosts hold different keys, or when the
    key is missing everywhere in the run and a host left out of it (--limit) may hold it.
    """
    own = ctx.system["dkim_keys"].get(path)
    in_run, outside = _signers(ctx.target, domain)
    holders = {ctx.name: (ctx.target, own)} if own else {}
    for other, other_settings in in_run:
        digest = system_profile(other, other_settings)["dkim_keys"].get(path)
        if digest:
            holders[other.name] = (other, digest)
    if len({digest for _, digest in holders.values()}) > 1:
        names = " and ".join(sorted(holders))
        raise KeyConflict(
            f"mailguard: {domain} (selector {selector}): {names} hold different DKIM keys at {path}: one key per "
            "domain for the group, and a published record depends on one of them: keep one (or give the hosts "
            "different selectors); nothing was changed"
        )
    keys = ctx.run.group_keys  # made or carried once for every host of the run that lacks them

    def supply() -> bytes:
        if path not in keys:  # this host holds the key, and it vanished meanwhile
            keys[path] = make()
        return keys[path]

    if own or path in keys:
        return supply
    if holders:
        holder, digest = next(iter(holders.values()))
        keys[path] = _carried(holder, path, digest)
    elif outside:
        raise KeyConflict(
            f"mailguard: {ctx.name}: no DKIM key for {domain} (selector {selector}) on the hosts of this run, and "
            f"{', '.join(sorted(outside))} (left out by --limit) may hold one: run without --limit once, so that "
            "the group's key is carried; nothing was changed"
        )
    else:
        keys[path] = make()
    return supply


def key_directory(reads: HostReads, platform: Platform, name: str = "DKIM: key directory"):
    """The keys' directory: rspamd's user may read it, no one else."""
    return files.directory(
        name=name,
        path=dkim_dir(platform.rspamd_db_dir),
        user=platform.rspamd_user,
        group=platform.rspamd_group,
        mode=750,
        reads=reads,
    )


@deploy("DKIM keys")
def keys(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    user, group = platform.rspamd_user, platform.rspamd_group
    created = [key_directory(ctx.reads, platform)]
    created += _import_opendkim(ctx)
    bits = settings.dkim_key_bits

    def rsa_key() -> bytes:
        return dkim.generate_private_key_pem(bits)

    for domain, state in ctx.key_states.items():
        for selector in (state.signing, state.next):
            if not selector:
                continue
            role = "" if selector == state.signing else ", the next key of a rotation"
            path = dkim_key_path(platform.rspamd_db_dir, domain, selector)
            created.append(
                dkim_key(
                    name=f"DKIM: key for {domain} (selector {selector}{role})",
                    path=path,
                    supply=group_key(ctx, domain, selector, path, rsa_key),
                    user=user,
                    group=group,
                    reads=ctx.reads,
                )
            )
        if not settings.dkim_ed25519:
            continue
        if state.ed25519 is None:
            ctx.reads.warn_once(f"{domain}: {ED25519_PENDING}")
        # beside the signing key once staged, and beside a rotation's next key where it signs
        beside = [state.signing] if state.ed25519 else []
        beside += [state.next] if state.next and state.signs_ed25519 else []
        for selector in map(dkim.ed25519_selector, beside):
            path = dkim_key_path(platform.rspamd_db_dir, domain, selector)
            created.append(
                dkim_key(
                    name=f"DKIM: Ed25519 key for {domain} (selector {selector})",
                    path=path,
                    supply=group_key(ctx, domain, selector, path, dkim.generate_ed25519_key),
                    user=user,
                    group=group,
                    algorithm="ed25519",
                    reads=ctx.reads,
                )
            )
    return {reload("rspamd"): created}
