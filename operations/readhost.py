"""The host read (templates/tools/read-host.sh): its arguments, and its answers parsed strictly.

The script prints the profile's NAME=VALUE lines, then ``STATE_MARK`` and one base64 line per group
of questions, in the order asked; inside a group each answer is ended by a NUL byte. No byte of a
name can pose as an answer: the controller knows which group each line answers, and a name is only
ever data inside one (a file name cannot hold a NUL). An answer that does not parse is an error
(``ReadError``), never a guess.

The read is run quietly (``ask``): never printed at any verbosity, since it carries what no output
may show (the salt and a digest of each controller password hash, from which a password could be
checked; the text of files such as redis.conf, which may hold an admin's requirepass).

What can be read, as (kind, argument):
    stat     a path: owner, group, mode, type, sha256 of a regular file (answered as "sha256")
    text     a file's content (files the deploy edits rather than replaces)
    groups   a user's groups
    group    whether a group exists
    postconf a Postfix parameter's value
    setting  a Postfix parameter as main.cf sets it (postconf -n): no answer where main.cf does not
    master   master.cf's services ("services") or their -o parameters ("params")
    pubkey   the public half of a private key file (the private key never leaves the host)
    edpubkey the same, of an Ed25519 key in rspamd's base64 form
    unit     a systemd unit: running, enabled
    deb, rpm an installed package and its version, asked of dpkg or rpm (the platform's package manager)
    glob     the paths matching a shell glob (ours, never user input)
    sebool   an SELinux boolean: on, off, or None where SELinux is absent
    managed  whether a file's first two lines carry the deploy's mark (it wrote the file)
    dnfrepo  whether a dnf repository is enabled in /etc/yum.repos.d
    firewalld the services ("services") or rich rules ("rich-rules") of firewalld's permanent configuration
    pwhash   the controller's password hashes, each as salt and sha256 only
    dbsize   how many keys Redis holds (the argument: its socket)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api.exceptions import FactProcessError
from pyinfra.api.host import Host

from mailguard import names
from mailguard.layout import MANAGED_MARK, REDIS_CLIENT_AUTH

from .commands import Command, script

STATE_MARK = "@@mailguard-state"

Want = tuple[str, str]  # (kind, argument): one question to the host

# Kinds the script answers with one program run for all their arguments.
BATCHED = frozenset({"stat", "managed", "postconf", "setting", "unit", "deb"})
# Kinds it answers argument by argument: asked in groups of at most PER_GROUP, which run side by
# side on the host (process starts are most of a read's time).
PER_ARGUMENT = frozenset(
    {"text", "groups", "group", "master", "pubkey", "edpubkey", "rpm", "glob", "sebool", "dnfrepo", "firewalld"}
    | {"pwhash", "dbsize"}
)
KINDS = BATCHED | PER_ARGUMENT
PER_GROUP = 4


class ReadError(FactProcessError):
    """The host's answer is not of the form asked: the run stops (nothing is decided on it)."""


def groups_of(wants: Iterable[Want]) -> list[tuple[str, list[str]]]:
    """The script's groups for ``wants``: (kind, arguments), a stat also asking its file's sha256."""
    by_kind: dict[str, list[str]] = {}
    for kind, arg in sorted(set(wants)):
        if kind not in KINDS:
            raise ValueError(f"no such question: {kind}")
        by_kind.setdefault(kind, []).append(arg)
    groups: list[tuple[str, list[str]]] = []
    for kind, args in by_kind.items():
        if kind in BATCHED:
            groups.append((kind, args))
            if kind == "stat":
                groups.append(("sha256", args))
        else:
            groups += [(kind, args[i : i + PER_GROUP]) for i in range(0, len(args), PER_GROUP)]
    return groups


def state_arguments(groups: list[tuple[str, list[str]]]) -> list[str]:
    words = ["state", MANAGED_MARK, REDIS_CLIENT_AUTH]
    for kind, args in groups:
        words += [kind, str(len(args)), *args]
    return words


def state_command(wants: Iterable[Want]) -> tuple[Command, list[tuple[str, list[str]]]]:
    groups = groups_of(wants)
    return script("read-host", *state_arguments(groups)), groups


def ask(target: Host, command: Command) -> list[str]:
    """``command``'s output lines, run as pyinfra runs a fact (the host's sudo and other connector
    arguments) but never printed, its input nor its output. A failed command raises ReadError."""
    global_arguments, _ = pyinfra_arguments.pop_global_arguments(target.state, target, {})
    connector = {k: v for k, v in global_arguments.items() if k in pyinfra_arguments.CONNECTOR_ARGUMENT_KEYS}
    ok, output = target.run_shell_command(command, print_output=False, print_input=False, **connector)
    if not ok:
        first = next(iter(output.stderr_lines), "no output")
        raise ReadError(f"mailguard: reading {target.name}'s state failed: {first}")
    return list(output.stdout_lines)


# --- parsing -------------------------------------------------------------------------------------


def _records(line: str, kind: str) -> list[str]:
    """A group's answers: its base64 line decoded, split at each NUL (the last one ends the data)."""
    try:
        data = base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ReadError(f"mailguard: the host's {kind} answer is not base64") from None
    if not data:
        return []
    if not data.endswith(b"\0"):
        raise ReadError(f"mailguard: the host's {kind} answer is cut short")
    return [part.decode("utf-8", "surrogateescape") for part in data[:-1].split(b"\0")]


def _per_argument(records: list[str], kind: str, args: list[str]) -> dict[Want, list[str]]:
    if len(records) != len(args):
        raise ReadError(f"mailguard: the host gave {len(records)} {kind} answers for {len(args)} questions")
    answers: dict[Want, list[str]] = {}
    for arg, record in zip(args, records, strict=True):
        if kind == "text":
            answers[(kind, arg)] = [record] if record else []
        else:
            answers[(kind, arg)] = [line for line in record.split("\n") if line]
    return answers


def _pairs(records: list[str], kind: str) -> list[tuple[str, str]]:
    if len(records) % 2:
        raise ReadError(f"mailguard: the host's {kind} answer has a name without its value")
    return list(zip(records[::2], records[1::2], strict=True))


def sha256_line(line: str) -> tuple[str, str]:
    """(name, digest) of one sha256sum output line (names.sha256sum_line), or ReadError."""
    try:
        return names.sha256sum_line(line)
    except ValueError as error:
        raise ReadError(f"mailguard: the host's {error}") from None


def _batched(records: list[str], kind: str, args: list[str]) -> dict[Want, list[str]]:
    asked = set(args)
    answers: dict[Want, list[str]] = {}

    def keep(name: str, lines: list[str], kind: str = kind) -> None:
        if name not in asked:
            raise ReadError(f"mailguard: the host answered {kind} for a name it was not asked")
        answers[(kind, name)] = lines

    if kind == "stat":
        for name, meta in _pairs(records, kind):
            keep(name, [meta])
    elif kind == "sha256":
        for record in records:
            name, digest = sha256_line(record)
            keep(name, [digest])
    elif kind == "deb":
        for name, status in _pairs(records, kind):
            keep(name, [status])
    elif kind in ("postconf", "setting"):
        for record in records:
            keep(record.partition("=")[0].strip(), [record])
    elif kind == "managed":
        if len(records) != len(args) or any(r not in ("0", "1") for r in records):
            raise ReadError("mailguard: the host's managed answer is not one 0 or 1 per file")
        answers.update({(kind, arg): [record] for arg, record in zip(args, records, strict=True)})
    elif kind == "unit":
        blocks: list[list[str]] = [[]]
        for record in records:
            if record:
                blocks[-1].append(record)
            else:
                blocks.append([])
        blocks = [] if blocks == [[]] else blocks
        if blocks and len(blocks) != len(args):
            raise ReadError(f"mailguard: the host described {len(blocks)} units for {len(args)} asked")
        answers.update({(kind, arg): block for arg, block in zip(args, blocks, strict=False)})
    return answers


def _globbed(records: list[str], args: list[str]) -> dict[Want, list[str]]:
    if records[-1:] != [""]:
        raise ReadError("mailguard: the host's glob answer is cut short")
    lists: list[list[str]] = [[]]
    for record in records[:-1]:
        if record:
            lists[-1].append(record)
        else:
            lists.append([])
    if len(lists) != len(args):
        raise ReadError(f"mailguard: the host gave {len(lists)} glob answers for {len(args)} patterns")
    return {("glob", arg): found for arg, found in zip(args, lists, strict=True)}


def parse_state(lines: list[str], groups: list[tuple[str, list[str]]]) -> dict[Want, list[str]]:
    """Each question's answer lines (the form Snapshot reads), from the script's group lines."""
    if len(lines) != len(groups):
        raise ReadError(f"mailguard: the host's state read gave {len(lines)} answers for {len(groups)} groups")
    answers: dict[Want, list[str]] = {}
    for line, (kind, args) in zip(lines, groups, strict=True):
        records = _records(line, kind)
        if kind in BATCHED or kind == "sha256":  # (sha256: the stat group's second half)
            answers.update(_batched(records, kind, args))
        elif kind == "glob":
            answers.update(_globbed(records, args))
        else:
            answers.update(_per_argument(records, kind, args))
    return answers


def split_profile(lines: list[str]) -> tuple[list[str], list[str] | None]:
    """The profile's lines, and the state read's (None when it was not asked)."""
    if STATE_MARK in lines:
        at = lines.index(STATE_MARK)
        return lines[:at], lines[at + 1 :]
    return lines, None


def b64_text(value: str, errors: str = "surrogateescape") -> str:
    """A base64 value of the host's answer, decoded (``errors`` as for bytes.decode); ReadError if
    it is not base64."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors)
    except (binascii.Error, ValueError):
        raise ReadError("mailguard: a value of the host's profile is not base64") from None


def read_state(target: Host, wants) -> dict[Want, list[str]]:
    """The answers to ``wants``, asked of ``target`` in one command (templates/tools/read-host.sh)."""
    command, groups = state_command(wants)
    lines = ask(target, command)
    state_lines = split_profile(lines)[1]
    if state_lines is None:
        raise ReadError(f"mailguard: {target.name}'s state read printed no answers")
    return parse_state(state_lines, groups)


class Undeclared(LookupError):
    """A question read from a snapshot that its reader did not declare (a bug in the deploy)."""


@dataclass(frozen=True)
class Snapshot:
    """The host's answers. ``covers``: the questions an operation declared; reading any other is an
    error (``Undeclared``), so an operation never mistakes an unasked question for "absent"."""

    answers: dict
    covers: frozenset | None = None

    @property
    def asked(self) -> frozenset:
        """The questions these answers are for (of a read: what it asked)."""
        return self.covers or frozenset()

    def only(self, wants) -> Snapshot:
        """The same answers, restricted to ``wants``."""
        return Snapshot(self.answers, frozenset(wants))

    def _lines(self, kind: str, arg: str) -> list[str]:
        if self.covers is not None and (("stat" if kind == "sha256" else kind), arg) not in self.covers:
            raise Undeclared(f"{kind} {arg!r} was read but not declared by the operation reading it")
        return self.answers.get((kind, arg), [])

    def stat(self, path: str) -> dict | None:
        lines = self._lines("stat", path)
        if not lines:
            return None
        user, group, mode, kind = lines[0].split(" ", 3)
        return {
            "user": user,
            "group": group,
            "mode": int(mode),
            "type": "regular file" if kind == "regular empty file" else kind,  # stat's name for size 0
            "sha256": next(iter(self._lines("sha256", path)), None),
        }

    def text(self, path: str) -> str | None:
        lines = self._lines("text", path)
        if not lines or not lines[0].startswith("b64:"):
            return None
        return base64.b64decode(lines[0][4:]).decode("utf-8", "surrogateescape")

    def groups(self, user: str) -> list[str]:
        return " ".join(self._lines("groups", user)).split()

    def group_exists(self, name: str) -> bool:
        return self._lines("group", name) == [name]

    def postconf(self, name: str, kind: str = "postconf") -> str | None:
        """``name``'s value in effect (``kind`` "setting": as main.cf sets it; None where it does not)."""
        for line in self._lines(kind, name):
            key, sep, value = line.partition("=")
            if sep and key.strip() == name:
                return value.strip()
        return None

    def setting(self, name: str) -> str | None:
        """``name``'s value as main.cf sets it; None where main.cf does not (its default applies)."""
        return self.postconf(name, "setting")

    def master_services(self) -> set[str]:
        """master.cf's services, as "name/type" (submission/inet)."""
        return {"/".join(line.split()[:2]) for line in self._lines("master", "services") if len(line.split()) > 1}

    def master_param(self, service: str, name: str) -> str | None:
        """A -o parameter of a master.cf service ("submission/inet"), or None."""
        for line in self._lines("master", "params"):
            key, sep, value = line.partition("=")
            if sep and key.strip() == f"{service}/{name}":
                return value.strip()
        return None

    def pubkey(self, path: str, kind: str = "pubkey") -> str | None:
        """``kind``: "pubkey" (an RSA key in PEM) or "edpubkey" (an Ed25519 key as rspamd reads it)."""
        value = "".join(self._lines(kind, path)).strip()
        return value or None

    def unit(self, name: str) -> dict:
        props = dict(line.split("=", 1) for line in self._lines("unit", name) if "=" in line)
        return {
            "exists": props.get("LoadState") == "loaded",
            "running": props.get("ActiveState") in ("active", "reloading", "activating"),
            "enabled": props.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias"),
            "masked": props.get("LoadState") == "masked",
        }

    def installed(self, kind: str, package: str) -> bool:
        """``kind``: "deb" or "rpm"."""
        return any(line.split()[:1] == ["installed"] for line in self._lines(kind, package))

    def package_version(self, kind: str, package: str) -> str | None:
        """The installed package's upstream version ("3.12.1" of "1:3.12.1-2~trixie"), or None."""
        for line in self._lines(kind, package):
            words = line.split()
            if words[:1] == ["installed"] and len(words) > 1:
                found = re.match(r"[0-9][0-9.]*", words[1].rpartition(":")[2])
                return found.group(0).rstrip(".") if found else None
        return None

    def sebool(self, name: str) -> bool | None:
        for line in self._lines("sebool", name):
            if line.startswith(f"{name} --> "):
                return line.endswith("on")
        return None

    def managed(self, path: str) -> bool:
        """Whether the file's first lines carry the deploy's mark."""
        return any(line.strip() not in ("", "0") for line in self._lines("managed", path))

    def password_hashes(self, path: str) -> dict[str, tuple[str, str]]:
        """name -> (salt, sha256 of the hash) of the controller's stored passwords."""
        found = {}
        for line in self._lines("pwhash", path):
            parts = line.split()
            if len(parts) == 3:
                found[parts[0]] = (parts[1], parts[2])
        return found

    def repo_enabled(self, repo: str) -> bool:
        return "enabled" in self._lines("dnfrepo", repo)

    def firewalld_services(self) -> list[str]:
        return " ".join(self._lines("firewalld", "services")).split()

    def firewalld_rich_rules(self) -> list[str]:
        return [line.strip() for line in self._lines("firewalld", "rich-rules") if line.strip()]

    def dbsize(self, socket: str) -> int:
        return next((int(line) for line in self._lines("dbsize", socket) if line.strip().isdigit()), 0)

    def glob(self, pattern: str) -> list[str]:
        return [line for line in self._lines("glob", pattern) if line]
