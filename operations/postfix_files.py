"""Postfix's two files, main.cf and master.cf, edited through postconf: only the parameters that
differ, and list parameters (milters) the admin also uses kept in their order."""

from __future__ import annotations

from pyinfra import host

from mailguard.directives import postfix_list
from mailguard.layout import MAIN_CF_SETTLED_SECONDS, STASH

from .commands import Command
from .hoststate import HostReads, Snapshot, operation_reading


def _postconf_wants(values: dict, *a, members: dict | None = None, **k) -> list[tuple[str, str]]:
    return [("postconf", name) for name in [*values, *(members or {})]]


@operation_reading(_postconf_wants)
def postconf(
    values: dict,
    main_cf: str,
    backup: str | None = None,
    members: dict | None = None,
    about=None,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """Set Postfix main.cf parameters with postconf -e, only those that differ.

    ``values``: parameters the deploy owns, set exactly. ``members``: list parameters (milters)
    the admin may also use: the value is added once, at the end, and every other item is kept
    in its place. ``about(item)`` may return a line to say about an item the admin has there.
    """
    changes = [f"{k} = {v}" for k, v in values.items() if state.postconf(k) != v]
    for name, member in (members or {}).items():
        items = postfix_list(state.postconf(name))
        for item in items:
            said = about(item) if about and item != member else None
            if said:
                reads.warn_once(f"{name} keeps {item}: {said}")
        if member not in items:
            changes.append(f"{name} = {', '.join([*items, member])}")
    if not changes:
        host.noop("Postfix milter settings are in place")
        return
    if backup:
        yield Command(STASH, backup, main_cf)
    yield Command("postconf", "-e", *changes)
    yield settled(main_cf)


def settled(main_cf: str) -> Command:
    """main.cf's time set back (``MAIN_CF_SETTLED_SECONDS``, see layout), after postconf -e wrote
    it whole: the next Postfix program reads it at once rather than wait for it to settle."""
    return Command("touch", "-d", f"{MAIN_CF_SETTLED_SECONDS} seconds ago", "--", main_cf)


@operation_reading(lambda *a, **k: [("master", "services"), ("master", "params")])
def service_parameters(services, values: dict, master_cf: str, backup: str | None = None, *, state: Snapshot):
    """Set -o ``values`` on those of ``services`` (master.cf "name/type") that the host defines."""
    present = [s for s in services if s in state.master_services()]
    changes = [
        f"{service}/{name}={value}"
        for service in present
        for name, value in values.items()
        if state.master_param(service, name) != value
    ]
    if not changes:
        host.noop(f"{', '.join(present) or 'none of ' + ', '.join(services)}: parameters in place")
        return
    if backup:
        yield Command(STASH, backup, master_cf)
    yield Command("postconf", "-P", *changes)
