"""The host read (templates/tools/read-host.sh): its arguments, and its answers parsed strictly.

The script prints the profile's NAME=VALUE lines, then ``STATE_MARK`` and one base64 line per group
of questions, in the order asked; inside a group each answer is ended by a NUL byte. No byte of a
name can pose as an answer: the controller knows which group each line answers, and a name is only
ever data inside one (a file name cannot hold a NUL). An answer that does not parse is an error
(``ReadError``), never a guess.

The read is run quietly (``ask``): never printed at any verbosity, since it carries what no output
may show (the salt and a digest of each controller password hash, from which a password could be
checked; the text of files such as redis.conf, which may hold an admin's requirepass).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api.exceptions import FactProcessError
from pyinfra.api.host import Host

from mailguard import names
from mailguard.layout import MANAGED_MARK, REDIS_AUTH_CONF

from .commands import Command, script

STATE_MARK = "@@mailguard-state"

Want = tuple[str, str]  # (kind, argument): one question to the host

# Kinds the script answers with one program run for all their arguments.
BATCHED = frozenset({"stat", "managed", "postconf", "unit", "deb"})
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
    words = ["state", MANAGED_MARK, REDIS_AUTH_CONF]
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
    elif kind == "postconf":
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
        if kind in ("stat", "sha256", "deb", "postconf", "managed", "unit"):
            answers.update(_batched(records, kind, args))
        elif kind == "glob":
            answers.update(_globbed(records, args) if records else {})
            if not records:
                raise ReadError("mailguard: the host's glob answer is empty")
        else:
            answers.update(_per_argument(records, kind, args))
    return answers


def split_profile(lines: list[str]) -> tuple[list[str], list[str] | None]:
    """The profile's lines, and the state read's (None when it was not asked)."""
    if STATE_MARK in lines:
        at = lines.index(STATE_MARK)
        return lines[:at], lines[at + 1 :]
    return lines, None


def b64_text(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        raise ReadError("mailguard: a value of the host's profile is not base64") from None
