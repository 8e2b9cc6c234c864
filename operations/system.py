"""The system around the files: packages and repositories, systemd units, groups, firewalld and
SELinux. Each reads the host's state, then yields commands or says host.noop()."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations.util import any_changed

from mailguard.layout import UNIT_DIR

from . import files
from .commands import Command
from .hoststate import HostReads, Snapshot, operation_reading
from .templating import render


@operation_reading(lambda user, *a, **k: [("groups", user)])
def group_member(user: str, groups, *, state: Snapshot):
    """Append ``user`` to ``groups``, keeping its other memberships."""
    current = set(state.groups(user))
    missing = [g for g in groups if g not in current]
    if not missing:
        host.noop(f"{user} is in {', '.join(groups)}")
        return
    for group in missing:
        yield Command("usermod", "-a", "-G", group, user)


@operation_reading(lambda group, *a, **k: [("group", group)])
def system_group(group: str, *, state: Snapshot):
    """A system group, made where the host has none of that name."""
    if state.group_exists(group):
        host.noop(f"the group {group} exists")
        return
    yield Command("groupadd", "-r", "--", group)


@operation_reading(lambda globs, *a, **k: [("glob", g) for g in globs])
def command_unless_files(globs, command: Command, reason: str, *, state: Snapshot):
    """Run ``command`` only while no file matches ``globs``."""
    if any(state.glob(g) for g in globs):
        host.noop(reason)
        return
    yield command


@operation_reading(lambda packages, installer, *a, **k: [(installer.query, p) for p in packages])
def packages(packages, installer, sources: dict[str, str] | None = None, *, state: Snapshot):
    """Install the missing ones of ``packages`` with ``installer`` (repos.PACKAGE_INSTALLERS).

    ``sources``: package name -> what to install instead (a URL), for a package that no enabled
    repository has.
    """
    missing = [p for p in packages if not state.installed(installer.query, p)]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield from installer.install([(sources or {}).get(p, p) for p in missing])


@operation_reading(lambda repo, *a, **k: [("dnfrepo", repo)])
def repository_enabled(repo: str, command: tuple[str, ...], *, state: Snapshot):
    """A dnf repository (a section of /etc/yum.repos.d/*.repo) enabled with ``command`` when it is not."""
    if state.repo_enabled(repo):
        host.noop(f"{repo} is enabled")
        return
    yield Command(*command)


@operation_reading(lambda unit, *a, **k: [("unit", unit), ("firewalld", "services")])
def firewall_services(unit: str, services: list[str], *, state: Snapshot):
    """Open ``services`` in firewalld when it runs (the permanent and the running configuration)."""
    if not state.unit(unit)["running"]:
        host.noop(f"{unit} is not running")
        return
    missing = [s for s in services if s not in state.firewalld_services()]
    if not missing:
        host.noop(f"{unit} allows {', '.join(services)}")
        return
    yield Command("firewall-cmd", "--permanent", *(f"--add-service={s}" for s in missing))
    yield Command("firewall-cmd", "--reload")


def rich_rule(address: str, port: int) -> str:
    """firewalld's rich rule admitting ``address`` to TCP ``port``, as firewall-cmd lists it."""
    family = "ipv6" if ":" in address else "ipv4"
    return f'rule family="{family}" source address="{address}" port port="{port}" protocol="tcp" accept'


@operation_reading(lambda unit, *a, **k: [("unit", unit), ("firewalld", "rich-rules")])
def firewall_sources(unit: str, addresses: list[str], ports: list[int], *, state: Snapshot):
    """Admit ``addresses`` to TCP ``ports`` in firewalld when it runs (the permanent and the running
    configuration). Rules for an address no longer listed are left: the group's fence turns it away."""
    if not state.unit(unit)["running"]:
        host.noop(f"{unit} is not running")
        return
    present = set(state.firewalld_rich_rules())
    missing = [rich_rule(a, p) for a in addresses for p in ports if rich_rule(a, p) not in present]
    if not missing:
        host.noop(f"{unit} admits {', '.join(addresses)}")
        return
    yield Command("firewall-cmd", "--permanent", *(f"--add-rich-rule={rule}" for rule in missing))
    yield Command("firewall-cmd", "--reload")


@operation_reading(lambda unit, *a, **k: [("unit", unit)])
def service(unit: str, running: bool = True, enabled: bool = True, *, state: Snapshot):
    """A systemd unit started/stopped and enabled/disabled as asked."""
    current = state.unit(unit)
    commands = []
    if current["enabled"] != enabled and current["running"] != running and enabled == running:
        commands.append(Command("systemctl", "enable" if enabled else "disable", "--now", unit))  # (one systemctl)
    else:
        if current["enabled"] != enabled:
            commands.append(Command("systemctl", "enable" if enabled else "disable", unit))
        if current["running"] != running:
            commands.append(Command("systemctl", "start" if running else "stop", unit))
    if not commands:
        host.noop(f"{unit}: {'running' if running else 'stopped'}, {'enabled' if enabled else 'disabled'}")
        return
    yield from commands


@operation()
def units_reloaded():
    """systemd reads its unit files again (``_if`` one of them changed)."""
    yield Command("systemctl", "daemon-reload")


@operation_reading(lambda unit, *a, **k: [("unit", unit)])
def unit_masked(unit: str, *, state: Snapshot):
    """A systemd unit that must never run (stopped and masked), installed yet or not."""
    if state.unit(unit)["masked"]:
        host.noop(f"{unit} is masked")
        return
    yield Command("systemctl", "mask", "--now", unit)


@operation_reading(lambda boolean, *a, **k: [("sebool", boolean)])
def selinux_boolean(boolean: str, *, state: Snapshot):
    """Turn an SELinux boolean on, persistently (setsebool -P); nothing where SELinux is off."""
    current = state.sebool(boolean)
    if current is None:
        host.noop(f"{boolean}: SELinux is not active here")
        return
    if current:
        host.noop(f"{boolean} is on")
        return
    yield Command("setsebool", "-P", boolean, "on")


def unit_files(
    title: str, units: Iterable[str], reads: HostReads, drop_in_for: str | None = None, **context: Any
) -> list[Any]:
    """The deploy's own units, each from templates/systemd/<unit>.j2 (with ``context``), and
    systemd told to read them again when one changed. Returns their file operations.
    ``drop_in_for``: another unit (a package's) these files are drop-ins of, in its ``.d`` directory."""
    directory = f"{UNIT_DIR}/{drop_in_for}.d" if drop_in_for else UNIT_DIR
    if drop_in_for:
        files.directory(name=f"{title}: {directory}", path=directory, user="root", group="root", mode=755,
                        reads=reads)  # fmt: skip
    ops = [
        files.text_file(
            name=f"{title}: {unit}",
            path=f"{directory}/{unit}",
            content=render(f"systemd/{unit}.j2", **context),
            reads=reads,
        )
        for unit in units
    ]
    units_reloaded(name=f"{title}: systemd reads the new units", _if=any_changed(*ops))
    return ops
