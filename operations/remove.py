"""remove.py: the server given back as it was before the deploy (docs/remove.md).

What is put back comes from the deploy's own records (mailguard/footprint.py): the footprint of
what it wrote, the originals it kept of the admin's files, and what the host had before its first
run. Everything is decided from one read before anything changes; a host the deploy never set up is
refused then. In order:

1. a backup (backup.py's), fetched to this machine, its path printed;
2. rspamd's milter taken out of Postfix (the admin's other milters kept in their order) and the
   parameters the deploy set put back as main.cf and master.cf had them; Postfix checked, reloaded;
3. each unit the deploy runs stopped and disabled unless the host ran it before;
4. each file the deploy wrote whole removed, or its original put back byte for byte; each file it
   edited put back from its original; its block taken out of the admin's file (the rest kept); DKIM
   keys and maps left in place;
5. each service that keeps running and whose files changed checked, then restarted or reloaded;
6. the deploy's tools and records moved into a directory of this removal, and a record that the
   host was given back: a rerun changes nothing, and a new deploy takes the host over afresh.

Nothing is deleted: what is taken away is moved into ``layout.REMOVED_DIR``/<time>/.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.operations.util import any_changed

from mailguard import blocks, dns_records, layout
from mailguard.directives import postfix_list
from mailguard.footprint import Before, Footprint, RecordError
from mailguard.layout import BEFORE, FOOTPRINT, ORIGINALS_DIR, REMOVED, REMOVED_DIR, RSPAMD_CHECK, original
from mailguard.settings import Settings

from . import activate, dkim, dns, postfix_files, preflight, system
from .activate import Action, Change
from .backup import backup
from .commands import Command
from .context import HostContext
from .files import copy_host_file, install_file, owner_of
from .footprint import master_keys, own_units
from .hoststate import Snapshot
from .postfix import MAIN_VALUES, MILTER_LISTS

# The admin's services the deploy only reloads: (unit field of the platform, action, check)
ADMIN_SERVICES = {
    "postfix": ("postfix_unit", Action.RELOAD),
    "dovecot": ("dovecot_unit", Action.RELOAD),
    "nginx": ("nginx_unit", Action.RELOAD),
    "openlitespeed": ("ols_unit", Action.RELOAD),
}
# The filter's services, when the host ran them before the deploy: (unit field, action)
FILTER_SERVICES = {
    "rspamd": ("rspamd_unit", Action.RESTART),
    "redis": ("redis_unit", Action.RESTART),
    "clamav": ("clamd_unit", Action.RESTART),
    "unbound": ("unbound_unit", Action.RELOAD),
}
FILES_LEARN_WRITES = (layout.LEARN_MAILBOX, layout.LEARNED_RECORD)  # learn.py's tool and record: no deploy writes them


class RemoveRefused(PyinfraError):
    pass


@dataclass(frozen=True)
class Records:
    footprint: Footprint
    before: Before | None  # None: set up by a deploy that kept no record of the host before


def _checks(ctx: HostContext) -> dict[str, Command]:
    """The deploy's own checks; rspamd's plain configtest (the admin's configuration need not
    enable the modules the deploy's check expects)."""
    return {**activate.service_checks(ctx.platform), "rspamd": Command("rspamadm", "configtest")}


def records(ctx: HostContext) -> Records | None:
    """The deploy's records on the host; None when remove.py gave it back already. A host the
    deploy never set up, or one whose records do not parse, is refused (nothing has changed)."""
    state = ctx.reads.snapshot(("text", FOOTPRINT), ("text", BEFORE), ("stat", REMOVED), ("stat", RSPAMD_CHECK))
    text = state.text(FOOTPRINT)
    if text is None:
        if state.stat(REMOVED):
            return None
        if state.stat(RSPAMD_CHECK):
            why = "an older mailguard set it up and kept no record of what it wrote: run deploy.py once, then remove.py"
        else:
            why = "mailguard never set it up"
        raise RemoveRefused(f"mailguard: {ctx.name}: remove: {why}; nothing was changed")
    before_text = state.text(BEFORE)
    try:
        return Records(Footprint.from_json(text), Before.from_json(before_text) if before_text else None)
    except RecordError as error:
        raise RemoveRefused(f"mailguard: {ctx.name}: remove: {error}; nothing was changed") from None


@operation()
def commands(commands: list, done: str):
    """``commands`` as planned from the one read before anything changed; ``done`` when none."""
    if not commands:
        host.noop(done)
        return
    yield from commands


def _aside(archive: str, path: str, copy: bool = False) -> list[Command]:
    """``path`` moved (or with ``copy``, copied) into this removal's directory, at the same path
    under it; a link is moved or copied as a link, never followed."""
    kept = f"{archive}{path}"
    move = Command("cp", "-P", "-p", "--", path, kept) if copy else Command("mv", "-fT", "--", path, kept)
    return [Command("mkdir", "-p", "--", kept.rsplit("/", 1)[0]), move]


def _postfix(ctx: HostContext, held: Records, state: Snapshot) -> list:
    """rspamd's milter out of Postfix, the deploy's parameters back to what main.cf and master.cf
    had (postconf -X where they had none)."""
    platform, changes, gone = ctx.platform, [], []
    for name in MILTER_LISTS:
        items = postfix_list(state.postconf(name))
        if layout.POSTFIX_MILTER in items:
            kept = [item for item in items if item != layout.POSTFIX_MILTER]
            changes.append(f"{name} = {', '.join(kept)}")
            if not kept and held.before and held.before.main.get(name) is None:
                gone.append(name)
    master = []
    if held.before is None:
        logger.warning(
            f"{ctx.name}: {', '.join([*MAIN_VALUES, 'submission milter_default_action'])}: left as they are "
            "(an older mailguard set the host up and kept no record of their earlier values)"
        )
    else:
        for name in MAIN_VALUES:
            was = held.before.main.get(name)
            if was is None and state.setting(name) is not None:
                gone.append(name)
            elif was is not None and state.setting(name) != was:
                changes.append(f"{name} = {was}")
        for key in master_keys():
            service, name = key.rsplit("/", 1)
            now, was = state.master_param(service, name), held.before.master.get(key)
            if now != was:
                master.append(("-PX", key) if was is None else ("-P", f"{key}={was}"))
    out = []
    if changes or gone or master:
        out.append(Command(layout.STASH, "postfix", platform.postfix_main_cf))
        out.append(Command(layout.STASH, "postfix", platform.postfix_master_cf))
    changes = [c for c in changes if c.split(" = ")[0] not in gone]
    if changes:
        out.append(Command("postconf", "-e", *changes))
    if gone:
        out.append(Command("postconf", "-X", *gone))
    out += [Command("postconf", flag, value) for flag, value in master]
    if changes or gone:
        out.append(postfix_files.settled(platform.postfix_main_cf))
    return out


def _files(ctx: HostContext, held: Records, state: Snapshot, archive: str, running: set[str]):
    """Each file the deploy wrote or edited put back; returns (commands, services whose files
    changed). A service's files are kept for a rollback when it keeps running (``running``)."""
    out: list = []
    changed: set[str] = set()
    tools = {*layout.TOOLS, *FILES_LEARN_WRITES}
    whole = {p: s for p, s in held.footprint.whole.items() if p not in tools}

    def stash(path: str, service: str | None) -> list[Command]:
        return [Command(layout.STASH, service, path)] if service in running else []

    for path, service in [*whole.items(), *held.footprint.edited.items()]:
        current, kept = state.stat(path), state.stat(original(path))
        if current is None and kept is None:
            continue
        if path in whole and current is not None and not state.managed(path) and kept is None:
            logger.warning(f"{ctx.name}: {path}: left as it is (it is not what mailguard wrote)")
            continue
        if kept is not None:
            out += stash(path, service) + (_aside(archive, path, copy=True) if current else [])
            out += list(copy_host_file(original(path), path, owner_of(kept), replace=True))
        elif path in whole:
            out += stash(path, service) + _aside(archive, path)
        else:
            logger.warning(f"{ctx.name}: {path}: left as it is (edited by a deploy that kept no original)")
            continue
        changed.add(service or "")
    for (path, begin, end), service in held.footprint.blocks.items():
        text, kept_text = state.text(path), state.text(original(path))
        body = blocks.block_body(text or "", begin, end)
        if text is None or body is None:
            continue
        if kept_text is not None and blocks.replace_block(kept_text, begin, end, body) == text:
            wanted = kept_text  # the file is the deploy's edit of the original, nothing more
        else:
            wanted = blocks.without_block(text, begin, end) or ""
        out += _aside(archive, path, copy=True)
        out += install_file(wanted, path, owner_of(state.stat(path)), backup=service if service in running else None)
        changed.add(service or "")
    return out, changed


def _wants(ctx: HostContext, held: Records) -> list[tuple[str, str]]:
    paths = [*held.footprint.whole, *held.footprint.edited, *FILES_LEARN_WRITES]
    wants = [w for p in paths for w in (("stat", p), ("managed", p), ("stat", original(p)))]
    wants += [w for (p, _, _) in held.footprint.blocks for w in (("text", p), ("stat", p), ("text", original(p)))]
    wants += [("postconf", n) for n in MILTER_LISTS] + [("setting", n) for n in [*MAIN_VALUES, *MILTER_LISTS]]
    wants += [("master", "params"), ("stat", ORIGINALS_DIR), ("stat", BEFORE), ("stat", FOOTPRINT)]
    return wants + [("unit", u) for u in own_units(ctx)]


def _kept_running(ctx: HostContext, held: Records, state: Snapshot) -> set[str]:
    """The services that run after the removal: the admin's, and the filter's the host ran before
    the deploy (without that record, those running now: nothing is stopped then)."""
    platform, running = ctx.platform, set(ADMIN_SERVICES)
    for service, (field, _) in FILTER_SERVICES.items():
        unit = getattr(platform, field)
        before = held.before.units.get(unit) if held.before else None
        if before.running if before else held.before is None and state.unit(unit)["running"]:
            running.add(service)
    return running


def _units_as_before(ctx: HostContext, held: Records) -> None:
    units = own_units(ctx)
    if held.before is None:
        logger.warning(f"{ctx.name}: {', '.join(units)}: left as they are (no record of the host before the deploy)")
        return
    for unit in units:
        was = held.before.units.get(unit)
        if was is not None:
            system.service(
                name=f"{unit}: {'enabled' if was.enabled else 'disabled'}, "
                f"{'running' if was.running else 'stopped'}, as before the deploy",
                unit=unit, running=was.running, enabled=was.enabled, reads=ctx.reads,
            )  # fmt: skip


def _activations(ctx: HostContext, ops: dict[str, Any], pending: dict) -> None:
    """Each service whose files changed (``ops``: service -> the operation), checked, then
    restarted or reloaded (activate.py: a failed check puts its files back)."""
    checks = _checks(ctx)
    for service, op in ops.items():
        field, action = {**ADMIN_SERVICES, **FILTER_SERVICES}[service]
        activate.mark_changes("remove", {Change(service, action): [op]}, pending)
        activate.activation(
            ctx.reads, f"{service}: {' '.join(checks[service].argv) if service in checks else 'no check'}, "
            f"then {action.value}", service, getattr(ctx.platform, field), pending,
            actions=(action,), check=checks.get(service),
        )  # fmt: skip


def _last(state: Snapshot, archive: str, stamp: str) -> list:
    """The removal recorded; the tools the activations ran, the originals (put back above) and the
    deploy's records moved aside, the footprint last: until it is gone, a rerun finishes the job."""
    given_back = json.dumps({"removed": stamp, "kept": archive}) + "\n"
    last = list(install_file(given_back, REMOVED, ("root", "root", 600)))
    for path in sorted({*layout.TOOLS, *FILES_LEARN_WRITES}):
        if state.stat(path):
            last += _aside(archive, path)
    for path in (ORIGINALS_DIR, BEFORE, FOOTPRINT):
        if state.stat(path):
            last += _aside(archive, path)
    return last


def remove(target: Host, settings: Settings) -> None:
    """remove.py for ``target``: planned whole from one read, refused before any change where the
    deploy never set the host up."""
    ctx = preflight.context(target, settings)
    held = records(ctx)
    if held is None:
        commands(name="remove: the host was given back already", commands=[], done=f"see {REMOVED}")
        return
    ctx = ctx.with_key_states(dkim.key_states(ctx))
    dkim_names = _dkim_records(ctx)
    state = ctx.reads.snapshot(*_wants(ctx, held))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    archive = f"{REMOVED_DIR}/{stamp}"
    running = _kept_running(ctx, held, state)

    backup(ctx)
    pending: dict = {}
    postfix_op = commands(
        name="Postfix: rspamd's milter out, its parameters as they were", commands=_postfix(ctx, held, state),
        done="rspamd's milter is not in Postfix",
    )  # fmt: skip
    _activations(ctx, {"postfix": postfix_op}, pending)
    _units_as_before(ctx, held)
    file_commands, changed = _files(ctx, held, state, archive, running)
    files_op = commands(name="Files: the host's own back, the deploy's moved aside", commands=file_commands,
                        done="nothing of the deploy's is left")  # fmt: skip
    if any(path.startswith(f"{layout.UNIT_DIR}/") for path in held.footprint.whole):  # the deploy's own units
        system.units_reloaded(name="systemd reads its units again", _if=any_changed(files_op))
    _activations(ctx, dict.fromkeys(sorted((changed & running) - {"", "postfix"}), files_op), pending)
    commands(name="The deploy's tools and records moved aside", commands=_last(state, archive, stamp), done="")
    ctx.run.after_operations(ctx.target, "removed", lambda: _say(ctx, archive, dkim_names, held))


def _dkim_records(ctx: HostContext) -> list[str]:
    """The DKIM records only rspamd signed with (not those of a domain OpenDKIM signs)."""
    expected = dns_records.RecordInputs.from_settings(ctx.settings, dns.public_keys(ctx), dns.more_keys(ctx))
    opendkim = set(dkim.opendkim_keys(ctx))
    return [
        r.name
        for r in dns_records.records(expected)
        if r.kind == "DKIM" and not any(r.name.endswith(f"._domainkey.{d}") for d in opendkim)
    ]


def _say(ctx: HostContext, archive: str, dkim_names: list[str], held: Records) -> None:
    print(f"\n--> {ctx.name} is given back: rspamd no longer sees its mail.")
    print(f"    What the deploy had there, and your files as they were since, are in {archive} (root only).")
    if held.footprint.maps:
        print(f"    Left in place: the DKIM keys and the maps ({', '.join(held.footprint.maps)}).")
    print("    Left installed: the packages and their repositories (remove them with your package manager).")
    if dkim_names:
        print("    DNS records it is now safe to delete (nothing signs with their keys):")
        for name in dkim_names:
            print(f"      {name} TXT")
    print("    Keep MX, SPF, DMARC and PTR: they describe the server, not the filter.\n")
