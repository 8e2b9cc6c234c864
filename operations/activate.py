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

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from mailguard.platforms import Platform

from . import edits, hoststate, postfix
from .hoststate import operation_reading
from .templating import TEMPLATES
from .tools import PENDING_DIR, ROLLBACK, RSPAMD_CHECK, TOOLS, last_good


def marker(service: str, action: str) -> str:
    return f"{PENDING_DIR}/{service}-{action}"


def _will_or_did_change(ops) -> bool:
    if host.state.is_executing:
        return any(op.did_change() for op in ops)
    return any(op.will_change for op in ops)


@deploy("Tools")
def tools():
    """The scripts the deploy runs on the host: installed before any file they guard changes."""
    for path, template in TOOLS.items():
        edits.text_file(name=f"Tool: {path}", path=path, content=(TEMPLATES / "tools" / template).read_text(), mode=755)


@operation()
def mark_pending(path: str, ops):
    """Leave ``path`` on the host when any of ``ops`` changed something."""
    if not _will_or_did_change(ops):
        host.noop("nothing changed")
        return
    yield StringCommand("mkdir", "-p", PENDING_DIR, "&&", "touch", path)


def _pending_wants(unit, actions, service, *args, **kwargs):
    return [("stat", path) for path, _, _ in actions] + [("stat", last_good(service))]


@operation_reading(_pending_wants)
def apply_pending(unit: str, actions, service: str, check: str | None = None, ready: str | None = None,
                  around_restart: tuple[str, str] | None = None):
    """For the first (marker, systemctl verb, marks) whose marker exists: check, act, wait, clear.

    ``marks`` are this run's mark_pending operations for that marker: at plan time it is not
    on the host yet. A failed ``check`` puts ``service``'s last good files back and fails.
    ``around_restart``: commands run before a restart and after the service is ready again.
    """
    state = hoststate.read(*_pending_wants(unit, actions, service))
    existing = {path for path, _, _ in actions if state.stat(path)}
    if not host.state.is_executing:
        existing |= {path for path, _, marks in actions if _will_or_did_change(marks)}
    if not existing and state.stat(last_good(service)):
        existing = {actions[0][0]}  # files were changed but the marker was lost: act, safest verb first
    for path, verb, _ in actions:
        if path not in existing:
            continue
        clear = "rm -f " + " ".join(p for p, _, _ in actions)
        before, after = around_restart if around_restart and verb == "restart" else (None, None)
        steps = [before, f"systemctl {verb} {unit}", ready, after, clear, f"rm -rf {last_good(service)}"]
        activate = " && ".join(step for step in steps if step)
        yield f"if {check}; then {activate}; else {ROLLBACK} {service}; {clear}; exit 1; fi" if check else activate
        return
    host.noop(f"{unit}: no configuration change to apply")


def expected_rspamd_modules(settings) -> list[str]:
    modules = ["dkim_signing", "arc", "dmarc", "multimap", "milter_headers", "phishing", "greylist"]
    if settings.antivirus:
        modules.append("antivirus")
    return modules


def mark_changes(step: str, changes: dict[str, list]):
    """One mark_pending per "<service>_<action>" key of a step's changes."""
    marks = {}
    for key, ops in changes.items():
        if ops:
            service, action = key.rsplit("_", 1)
            marks[key] = mark_pending(name=f"{step}: {service} {action} pending", path=marker(service, action), ops=ops)
    return marks


RESTART = ("restart", "restart")
RELOAD = ("reload", "reload-or-restart")


def activation(name: str, service: str, unit: str, marks: dict, verbs=(RESTART,), **kwargs):
    """apply_pending for ``service``: one (marker, systemctl verb) per (action, verb) in ``verbs``."""
    actions = [(marker(service, action), verb, marks.get(f"{service}_{action}", [])) for action, verb in verbs]
    apply_pending(name=name, unit=unit, actions=actions, service=service, **kwargs)


@deploy("Activate")
def services(settings, platform: Platform, marks: dict[str, list]):
    """``marks`` maps "<service>_<action>" to this run's mark_pending operations."""
    activation("Redis: restart for its new configuration", "redis", platform.redis_unit, marks)
    edits.service(name="Redis: enabled and running", unit=platform.redis_unit)

    if settings.antivirus:
        activation("ClamAV: restart clamd for its new configuration", "clamav", platform.clamd_unit, marks)
        for unit in (platform.freshclam_unit, platform.clamd_unit):
            edits.service(name=f"ClamAV: {unit} enabled and running", unit=unit)

    # A reload with changed sockets kills rspamd 3.4: workers and groups need a restart.
    activation(
        "rspamd: check the configuration, then restart (workers, groups) or reload", "rspamd", platform.rspamd_unit,
        marks, verbs=(RESTART, RELOAD),
        check=" ".join([RSPAMD_CHECK, *expected_rspamd_modules(settings)]),
        ready=f"{RSPAMD_CHECK} --wait-ready",
        around_restart=(postfix.HOLD_MAIL, postfix.RELEASE_MAIL),
    )
    edits.service(name="rspamd: enabled and running", unit=platform.rspamd_unit)

    activation("Postfix: postfix check, then reload", "postfix", platform.postfix_unit, marks, verbs=(RELOAD,),
               check="postfix check")
    edits.service(name="Postfix: enabled and running", unit=platform.postfix_unit)

    if settings.webui_proxy == "nginx":
        activation("nginx: nginx -t, then reload", "nginx", platform.nginx_unit, marks, verbs=(RELOAD,),
                   check="nginx -t")
        edits.service(name="nginx: enabled and running", unit=platform.nginx_unit)
    elif settings.webui_proxy == "openlitespeed":
        # lsws's restart is graceful: requests in flight finish first.
        activation("OpenLiteSpeed: openlitespeed -t, then a graceful restart", "openlitespeed", platform.ols_unit, marks,
                   check=f"{platform.ols_binary} -t")
