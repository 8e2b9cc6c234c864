"""Which hosts the deploy aims at, and with which settings: read by inventory.py.

- ``MAIL_INVENTORY``: a TOML inventory of several hosts in groups (below).
- ``MAIL_HOST`` (+ ``MAIL_SSH_PORT``, ``MAIL_SSH_USER``, ``MAIL_SSH_KEY``): a real server over SSH.
- ``MAIL_TARGET=vagrant``: the AlmaLinux 9 box of the Vagrantfile (pyinfra's @vagrant connector).
- otherwise: the local Debian sandbox, when it runs (``./run sandbox up``).

Settings come from the TOML file ``MAIL_SETTINGS`` (default ``settings.toml``; the sandbox
uses ``sandbox/settings.toml``). An inventory carries its own, in three layers, each key from
the most specific layer that sets it: ``[settings]`` for every host, ``[groups.<name>.settings]``
for a group's hosts (in the order the host lists its groups), ``[hosts."<name>".settings]``::

    [settings]
    domains = ["example.com"]

    [groups.mx.settings]
    resolver = "local"

    [hosts."mx1.example.com"]
    groups = ["mx"]
    settings = { server_ipv4 = "203.0.113.25" }

    [hosts."mx2.example.com"]
    groups = ["mx"]
    ssh_port = 2222
    settings = { server_ipv4 = "203.0.113.26", mail_hostname = "mx2.example.com" }

Every host is in the group ``mail`` as well, so ``--limit mail``, ``--limit mx`` and
``--limit mx1.example.com`` all work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from . import sentinel
from . import settings as settings_module

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_STATE = Path(os.environ.get("MAILGUARD_SANDBOX_RUN", "/run/mailguard-sandbox")) / "state.json"
ALL_HOSTS = "mail"  # the group every host is in
# What an inventory's host may say besides its groups and settings: how pyinfra reaches it.
SSH_KEYS = {
    "ssh_hostname": str,
    "ssh_port": int,
    "ssh_user": str,
    "ssh_key": str,
    "ssh_known_hosts_file": str,
    "ssh_strict_host_key_checking": str,
}

Hosts = list[tuple[str, dict]]  # (pyinfra host name, host data)
_GROUP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class TargetError(Exception):
    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def read_settings_file(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise TargetError(f"MAIL_SETTINGS: no such file: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise TargetError(f"MAIL_SETTINGS: {path} is not valid TOML: {error}") from None


def sandbox_state() -> dict | None:
    try:
        return json.loads(SANDBOX_STATE.read_text())
    except (FileNotFoundError, ValueError):
        return None


def select(env: dict[str, str] | None = None) -> tuple[dict[str, Hosts], Path | None]:
    """{group: [(pyinfra host name, host data)]} and the settings file used, or TargetError (or
    SettingsError for the one-host forms).

    The settings are validated here, before pyinfra connects to anything, and kept in each
    host's data (``settings.SETTINGS_KEY``): the deploy uses them as they are.
    """
    env = dict(os.environ if env is None else env)
    if env.get("MAIL_INVENTORY"):
        inventory = Path(env["MAIL_INVENTORY"])
        return read_inventory(inventory, env), inventory
    hosts, settings_file = _one_host(env)
    return {ALL_HOSTS: hosts}, settings_file


def _one_host(env: dict[str, str]) -> tuple[Hosts, Path | None]:
    if env.get("MAIL_HOST"):
        data: dict = {"ssh_user": env.get("MAIL_SSH_USER", "root")}
        if env.get("MAIL_SSH_PORT"):
            if not env["MAIL_SSH_PORT"].isdigit():
                raise TargetError(f"MAIL_SSH_PORT: not a port number: {env['MAIL_SSH_PORT']!r}")
            data["ssh_port"] = int(env["MAIL_SSH_PORT"])
        if env.get("MAIL_SSH_KEY"):
            data["ssh_key"] = env["MAIL_SSH_KEY"]
        hosts, default_settings = [(env["MAIL_HOST"], data)], ROOT / "settings.toml"
    elif env.get("MAIL_TARGET") == "vagrant":
        hosts, default_settings = [("@vagrant/default", {"ssh_user": "root"})], ROOT / "settings.toml"
    elif env.get("MAIL_TARGET") not in (None, "", "sandbox"):
        raise TargetError(f"MAIL_TARGET: must be 'sandbox' or 'vagrant', got {env['MAIL_TARGET']!r}")
    else:
        state = sandbox_state()
        if state is None:
            raise TargetError(
                "no target: set MAIL_HOST (and MAIL_SSH_PORT, MAIL_SSH_USER, MAIL_SSH_KEY) for a server, "
                "MAIL_INVENTORY for several, MAIL_TARGET=vagrant for the Vagrant box, "
                "or start the local sandbox: ./run sandbox up"
            )
        hosts = [("127.0.0.1", sandbox_ssh(state))]
        default_settings = ROOT / "sandbox" / "settings.toml"
    path: Path | None = Path(env["MAIL_SETTINGS"]) if env.get("MAIL_SETTINGS") else default_settings
    if path is not None and (env.get("MAIL_SETTINGS") or path.exists()):
        mail_settings = read_settings_file(path)
    else:
        mail_settings, path = {}, None
    loaded = settings_module.load(mail_settings, env)
    return [(name, {**data, settings_module.SETTINGS_KEY: loaded}) for name, data in hosts], path


def sandbox_ssh(state: dict) -> dict:
    """pyinfra's SSH data for the running sandbox (``state``: its state.json)."""
    return {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": state["ssh_port"],
        "ssh_user": "root",
        "ssh_key": state["ssh_key"],
        "ssh_known_hosts_file": state["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
    }


def _table(value: Any, where: str, problems: list[str]) -> dict:
    if isinstance(value, dict):
        return value
    problems.append(f"{where}: must be a table")
    return {}


def read_inventory(path: Path, env: dict[str, str]) -> dict[str, Hosts]:
    """The groups of an inventory file, each host's settings validated; every problem in all hosts
    is one line of the TargetError."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise TargetError(f"MAIL_INVENTORY: no such file: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise TargetError(f"MAIL_INVENTORY: {path} is not valid TOML: {error}") from None
    problems = [
        f"MAIL_INVENTORY: unknown table {key!r}" for key in document if key not in ("settings", "groups", "hosts")
    ]
    shared = _table(document.get("settings", {}), "MAIL_INVENTORY: settings", problems)
    group_settings: dict[str, dict] = {}
    for group, spec in _table(document.get("groups", {}), "MAIL_INVENTORY: groups", problems).items():
        spec = _table(spec, f"group {group}", problems)
        problems += [f"group {group}: unknown key {key!r} (only settings)" for key in spec if key != "settings"]
        group_settings[group] = _table(spec.get("settings", {}), f"group {group}: settings", problems)
    hosts = _table(document.get("hosts", {}), "MAIL_INVENTORY: hosts", problems)
    if not hosts and not problems:
        problems.append(f'MAIL_INVENTORY: {path} lists no [hosts."<name>"]')
    groups: dict[str, Hosts] = {ALL_HOSTS: []}
    for name, spec in hosts.items():
        spec = _table(spec, f"host {name}", problems)
        data, host_groups = _host_data(name, spec, problems)
        merged: dict = dict(shared)
        for group in host_groups:
            merged.update(group_settings.get(group, {}))  # a group may have no settings of its own
        merged.update(_table(spec.get("settings", {}), f"host {name}: settings", problems))
        try:
            loaded = settings_module.load(merged, env)
        except settings_module.SettingsError as error:
            problems += [f"host {name}: setting {line}" for line in error.lines]
            continue
        data[settings_module.SETTINGS_KEY] = loaded
        for group in dict.fromkeys([ALL_HOSTS, *host_groups]):
            groups.setdefault(group, []).append((name, data))
    problems += _replication_problems(groups[ALL_HOSTS])
    if problems:
        raise TargetError(*dict.fromkeys(problems))  # a password problem is the same line for every host
    _fill_in_neighbours(groups[ALL_HOSTS])
    _fill_in_group_addresses(groups[ALL_HOSTS])
    return groups


def _replication_problems(hosts: Hosts) -> list[str]:
    """A group of MX hosts (those that share a redis_primary) needs its primary among them, and
    every host its own private_address."""
    problems = []
    owners: dict[str, str] = {}
    for name, data in hosts:
        address = data[settings_module.SETTINGS_KEY].private_address
        if address is not None and owners.setdefault(address, name) != name:
            problems.append(f"host {name}: setting private_address: {address} is {owners[address]}'s already")
    for name, data in hosts:
        primary = data[settings_module.SETTINGS_KEY].redis_primary
        if primary is not None and primary not in owners:
            problems.append(f"host {name}: setting redis_primary: {primary} is no host's private_address")
    for first, second in sentinel.clashes(list(owners)):
        problems.append(
            f"host {owners[second]}: setting private_address: {second} gets the same group loopback address "
            f"as {owners[first]}'s {first} (mailguard/sentinel.py); give one of them another address"
        )
    return problems


def _fill_in_neighbours(hosts: Hosts) -> None:
    """Each host of a group learns the web UIs of all that a proxy publishes over HTTPS: rspamd's
    neighbours. (The admin's browser calls each neighbour with the web UI password: over plain
    HTTP, it would cross the network readable.)"""
    key = settings_module.SETTINGS_KEY
    published: dict[str, list[tuple[str, str, str]]] = {}
    for _name, data in hosts:
        loaded = data[key]
        if loaded.redis_primary is not None and loaded.webui_https:
            published.setdefault(loaded.redis_primary, []).append((loaded.webui_server_name, *loaded.webui_neighbour))
    for _name, data in hosts:
        group = sorted(set(published.get(data[key].redis_primary or "", [])))
        if len(group) > 1:
            data[key] = dataclasses.replace(data[key], neighbours=tuple(group))


def _fill_in_group_addresses(hosts: Hosts) -> None:
    """Each host of a group learns the private_address of all: the addresses its fence admits."""
    key = settings_module.SETTINGS_KEY
    members: dict[str, set[str]] = {}
    for _name, data in hosts:
        loaded = data[key]
        if loaded.redis_primary is not None and loaded.private_address is not None:
            members.setdefault(loaded.redis_primary, set()).add(loaded.private_address)
    for _name, data in hosts:
        primary = data[key].redis_primary
        if primary is not None:
            data[key] = dataclasses.replace(data[key], group_addresses=tuple(sorted(members[primary])))


def _host_data(name: str, spec: dict, problems: list[str]) -> tuple[dict, list[str]]:
    data: dict = {}
    for key, value in spec.items():
        if key in ("settings", "groups"):
            continue
        if key not in SSH_KEYS:
            problems.append(f"host {name}: unknown key {key!r} (groups, settings, {', '.join(SSH_KEYS)})")
        elif not isinstance(value, SSH_KEYS[key]) or isinstance(value, bool):
            problems.append(f"host {name}: {key} must be a {SSH_KEYS[key].__name__}, got {value!r}")
        else:
            data[key] = value
    host_groups = spec.get("groups", [])
    # A group is a name in inventory.py, whose own names all start with "_".
    if not isinstance(host_groups, list) or not all(_GROUP_NAME.fullmatch(str(g)) for g in host_groups):
        problems.append(
            f"host {name}: groups must be a list of names (a letter, then letters, digits, _), got {host_groups!r}"
        )
        host_groups = []
    return data, host_groups
