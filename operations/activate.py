"""Checks, then restarts or reloads, each only for a service whose own files changed.

A change leaves a marker file on the host (/var/lib/mailguard/pending/<service>-<action>)
right after the step that made it; activation acts on the markers and removes them. A run
that fails in between (a lost connection) leaves the marker, so the next run still restarts
what the failed one changed.

Before a checked service's file is changed, ``mailguard-stash`` keeps the version the running
service loaded (/var/lib/mailguard/last-good/<service>/). If the check fails, those files are
put back, the service is neither restarted nor reloaded, and the deploy stops with the
checker's message. If it passes, the kept copies are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pyinfra import host
from pyinfra.api import deploy, operation

from mailguard import layout, learning
from mailguard.layout import PENDING_DIR, ROLLBACK, RSPAMD_CHECK, TOOLS, last_good, tools_context
from mailguard.platforms import Platform
from mailguard.settings import Settings

from . import files, system
from .commands import Command, script
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading
from .templating import render


class Action(Enum):
    RESTART = "restart"
    RELOAD = "reload"


@dataclass(frozen=True)
class Change:
    """What a changed file asks of its service: a restart or a reload."""

    service: str  # redis, tunnel, sentinel, clamav, rspamd, postfix, nginx, openlitespeed
    action: Action

    @property
    def marker(self) -> str:
        return f"{PENDING_DIR}/{self.service}-{self.action.value}"


def restart(service: str) -> Change:
    return Change(service, Action.RESTART)


def reload(service: str) -> Change:
    return Change(service, Action.RELOAD)


# While the deploy restarts rspamd, Postfix answers 4xx instead of passing mail unscanned
# (templates/tools/hold-mail.sh.j2, run with "on" and "off"); should the run die in between, the
# next run's postconf puts accept back. Without the hold, most mail sent during a restart passed
# unscanned; without its wait for open sessions, one message per open session did.


# What a step returns: each change it may ask for, with the operations that would cause it.
Changes = dict[Change, list[Any]]


def will_or_did_change(ops) -> bool:
    if host.state.is_executing:
        return any(op.did_change() for op in ops)
    return any(op.will_change for op in ops)


@deploy("Tools")
def tools(reads: HostReads):
    """The scripts the deploy runs on the host: installed before any file they guard changes."""
    for path, template in TOOLS.items():
        files.text_file(
            name=f"Tool: {path}",
            path=path,
            content=render(f"tools/{template}", **tools_context()),
            mode=755,
            keep_original=False,  # mailguard-keep-original itself may not be there yet
            reads=reads,
        )


@operation()
def mark_pending(path: str, ops):
    """Leave ``path`` on the host when any of ``ops`` changed something."""
    if not will_or_did_change(ops):
        host.noop("nothing changed")
        return
    yield Command("install", "-D", "-m", "644", "/dev/null", path)  # (its directory made on the way: one command)


def _pending_wants(unit, actions, service, *args, **kwargs):
    return [("stat", path) for path, _, _ in actions] + [("stat", last_good(service))]


@operation_reading(_pending_wants)
def apply_pending(
    unit: str,
    actions,
    service: str,
    check: Command | None = None,
    ready: Command | None = None,
    hold: str | None = None,
    *,
    state: Snapshot,
):
    """For the first (marker, systemctl verb, pending_marks) whose marker exists: check, act, wait, clear
    (templates/tools/activate.sh).

    ``pending_marks`` are this run's mark_pending operations for that marker: at plan time it is not
    on the host yet. A failed ``check`` puts ``service``'s last good files back and fails.
    ``hold``: a program run with "on" before a restart and "off" once the service is ready again.
    """
    existing = {path for path, _, _ in actions if state.stat(path)}
    if not host.state.is_executing:
        existing |= {path for path, _, pending_marks in actions if will_or_did_change(pending_marks)}
    if not existing and state.stat(last_good(service)):
        existing = {actions[0][0]}  # files were changed but the marker was lost: act, safest verb first
    for path, verb, _ in actions:
        if path not in existing:
            continue
        markers = [p for p, _, _ in actions]
        check_words = check.argv if check else ()
        yield script(
            "activate", service, unit, verb, last_good(service), ROLLBACK, hold or "",
            str(len(markers)), str(len(check_words)), *markers, *check_words, *(ready.argv if ready else ()),
        )  # fmt: skip
        return
    host.noop(f"{unit}: no configuration change to apply")


def expected_rspamd_modules(settings: Settings) -> list[str]:
    modules = ["dkim_signing", "arc", "dmarc", "multimap", "milter_headers", "phishing", "greylist"]
    if settings.antivirus:
        modules.append("antivirus")
    return modules


def mark_changes(step: str, changes: Changes, pending_marks: dict[Change, list[Any]]) -> None:
    """One mark_pending per change a step may make, added to ``pending_marks``."""
    for change, ops in changes.items():
        if ops:
            name = f"{step}: {change.service} {change.action.value} pending"
            pending_marks.setdefault(change, []).append(mark_pending(name=name, path=change.marker, ops=ops))


SYSTEMCTL_VERB = {Action.RESTART: "restart", Action.RELOAD: "reload-or-restart"}


def activation(
    reads: HostReads,
    name: str,
    service: str,
    unit: str,
    pending_marks: dict[Change, list[Any]],
    actions=(Action.RESTART,),
    **kwargs,
) -> None:
    """apply_pending for ``service``: its markers in the order of ``actions`` (the safest first).

    One host at a time (pyinfra's ``_serial``): with several MX hosts in the inventory, their
    restarts and reloads roll, so that the group never holds mail on every host together; the
    configuration is still planned and written on all hosts in parallel.
    """
    steps = [(Change(service, a).marker, SYSTEMCTL_VERB[a], pending_marks.get(Change(service, a), [])) for a in actions]
    apply_pending(name=name, unit=unit, actions=steps, service=service, _serial=True, reads=reads, **kwargs)


def _checked_reload(
    reads: HostReads,
    title: str,
    service: str,
    unit: str,
    check: Command,
    pending_marks: dict[Change, list[Any]],
    says: str | None = None,
) -> None:
    """A service that only ever reloads: its check, then the reload; then enabled and running.
    ``says``: the check as the operation's name gives it (default: the check's words)."""
    name = f"{title}: {says or ' '.join(check.argv)}, then reload"
    activation(reads, name, service, unit, pending_marks, actions=(Action.RELOAD,), check=check)
    system.service(name=f"{title}: enabled and running", unit=unit, reads=reads)


def service_checks(platform: Platform) -> dict[str, Command]:
    """Each reloaded service's own configuration check, run before it is reloaded (by the deploy,
    and by remove.py); rspamd's is mailguard-rspamd-check, with the modules the deploy expects."""
    return {
        "unbound": Command("unbound-checkconf"),
        "postfix": Command("postfix", "check"),
        "dovecot": script("check-dovecot", layout.LEARN_SERVICE),
        "nginx": Command("nginx", "-t"),
        # -t judged by its [ERROR] lines (templates/tools/check-openlitespeed.sh)
        "openlitespeed": script("check-openlitespeed", platform.ols_binary),
    }


def filter_units(ctx: HostContext) -> dict[str, str]:
    """The services ``services`` keeps enabled and running for the filter, with what each is for
    (the admin's own, Postfix, Dovecot and a proxy, it only reloads)."""
    settings, platform = ctx.settings, ctx.platform
    units = {platform.rspamd_unit: "rspamd", platform.redis_unit: "Redis"}
    if settings.antivirus:
        units |= {platform.clamd_unit: "ClamAV", platform.freshclam_unit: "ClamAV's updates"}
    if settings.resolver == "local":
        units[platform.unbound_unit] = "rspamd's resolver"
    return units


def _group_services(ctx: HostContext, pending_marks: dict[Change, list[Any]]) -> None:
    """A group's tunnel, after Redis (which gave up the group's port to it), and its sentinel after
    the tunnel (through which it reaches the other hosts)."""
    if ctx.settings.redis_role == "standalone":
        return
    activation(ctx.reads, "Tunnel: restart for its new configuration", "tunnel", layout.TUNNEL_UNIT, pending_marks)
    system.service(name="Tunnel: enabled and running", unit=layout.TUNNEL_UNIT, reads=ctx.reads)
    if ctx.settings.redis_failover:
        activation(
            ctx.reads, "Sentinel: restart for its new configuration", "sentinel", layout.SENTINEL_UNIT, pending_marks
        )
        system.service(name="Sentinel: enabled and running", unit=layout.SENTINEL_UNIT, reads=ctx.reads)


@deploy("Activate")
def services(ctx: HostContext, pending_marks: dict[Change, list[Any]]):
    """``pending_marks``: this run's mark_pending operations per change."""
    settings, platform = ctx.settings, ctx.platform
    checks = service_checks(platform)
    activation(ctx.reads, "Redis: restart for its new configuration", "redis", platform.redis_unit, pending_marks)
    system.service(name="Redis: enabled and running", unit=platform.redis_unit, reads=ctx.reads)
    _group_services(ctx, pending_marks)

    if settings.antivirus:
        activation(
            ctx.reads, "ClamAV: restart clamd for its new configuration", "clamav", platform.clamd_unit, pending_marks
        )
        for unit in (platform.freshclam_unit, platform.clamd_unit):
            system.service(name=f"ClamAV: {unit} enabled and running", unit=unit, reads=ctx.reads)

    if settings.resolver == "local":  # before rspamd, which asks it as soon as it starts
        _checked_reload(ctx.reads, "unbound", "unbound", platform.unbound_unit, checks["unbound"], pending_marks)

    # A reload with changed sockets kills rspamd 3.4: workers and groups need a restart.
    activation(
        ctx.reads,
        "rspamd: check the configuration, then restart (workers, groups) or reload",
        "rspamd",
        platform.rspamd_unit,
        pending_marks,
        actions=(Action.RESTART, Action.RELOAD),
        check=Command(RSPAMD_CHECK, *expected_rspamd_modules(settings)),
        ready=Command(RSPAMD_CHECK, "--wait-ready"),
        hold=layout.HOLD_MAIL,
    )
    system.service(name="rspamd: enabled and running", unit=platform.rspamd_unit, reads=ctx.reads)

    _checked_reload(ctx.reads, "Postfix", "postfix", platform.postfix_unit, checks["postfix"], pending_marks)
    if Change("dovecot", Action.RELOAD) in pending_marks:  # Dovecot is there and learning is on
        # Its global Sieve scripts are compiled once the new configuration (plugins) is checked.
        activation(
            ctx.reads,
            "Dovecot: doveconf, then reload and compile the Sieve scripts",
            "dovecot",
            platform.dovecot_unit,
            pending_marks,
            actions=(Action.RELOAD,),
            check=checks["dovecot"],
            ready=Command(*learning.sieve_compile(platform.dovecot_conf)),
        )
    if settings.webui_proxy == "nginx":
        _checked_reload(ctx.reads, "nginx", "nginx", platform.nginx_unit, checks["nginx"], pending_marks)
    elif settings.webui_proxy == "openlitespeed":
        # The unit's reload is OLS's graceful restart.
        _checked_reload(
            ctx.reads,
            "OpenLiteSpeed",
            "openlitespeed",
            platform.ols_unit,
            checks["openlitespeed"],
            pending_marks,
            says="openlitespeed -t (errors)",
        )
