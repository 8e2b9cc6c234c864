"""Operations pyinfra lacks. Each reads a fact, then yields commands or says host.noop().

None of them prints file contents: files that hold secrets (password hashes, private keys)
go through here rather than files.put, whose --diff would show them.
"""

from __future__ import annotations

import re
import shlex
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.facts.files import File

from mailguard import directives, dkim, rspamd_password

from .facts import FilesMatching, FileText, GroupsOf, PostconfValues


def _metadata_commands(path: str, current: dict | None, user: str, group: str, mode: int):
    """chown/chmod only where the file's owner or mode differ (mode as pyinfra reports it: 640)."""
    if not current or current.get("user") != user or current.get("group") != group:
        yield StringCommand("chown", f"{user}:{group}", path)
    if not current or current.get("mode") != mode:
        yield StringCommand("chmod", str(mode), path)


def _install(content: str | bytes, path: str, owner: tuple[str, str, int] | None = None, replace: bool = True):
    """Write ``path`` atomically: a 0600 staging file beside it, uploaded, then moved.

    ``owner`` is (user, group, mode); None keeps those of the file being replaced.
    ``replace=False`` links instead of moving: it fails rather than replace a file that
    appeared meanwhile.
    """
    data = content.encode() if isinstance(content, str) else content
    staging = f"{path}.mailguard-new"
    yield StringCommand("install", "-m", "600", "/dev/null", staging)
    yield FileUploadCommand(BytesIO(data), staging, remote_temp_filename=staging)
    if owner is None:
        yield StringCommand("chown", f"--reference={path}", staging, "&&", "chmod", f"--reference={path}", staging)
    else:
        user, group, mode = owner
        yield StringCommand("chown", f"{user}:{group}", staging, "&&", "chmod", str(mode), staging)
    if replace:
        yield StringCommand("mv", "-f", staging, path)
    else:
        yield StringCommand("ln", staging, path, "&&", "rm", "-f", staging)


@operation()
def directives_file(path: str, settings, disabled=()):
    """Set "Directive value" lines of an existing config file (clamd, redis) in place."""
    text = host.get_fact(FileText, path=path)
    if text is None:
        if host.state.is_executing:
            raise OperationError(f"{path} does not exist: is its package installed?")
        yield StringCommand("true")  # the package that ships the file is installed first
        return
    wanted = directives.edit(text, settings, disabled)
    if wanted == text:
        host.noop(f"{path} already has the wanted directives")
        return
    yield from _install(wanted, path)


@operation()
def text_file(path: str, content: str, user: str = "root", group: str = "root", mode: int = 644):
    """A whole file whose content may be secret: compared on the host's text, never diffed."""
    current = host.get_fact(FileText, path=path)
    if current != content:
        yield from _install(content, path, (user, group, mode))
        return
    commands = list(_metadata_commands(path, host.get_fact(File, path=path), user, group, mode))
    if not commands:
        host.noop(f"{path} is up to date")
        return
    yield from commands


_HASH_LINE = re.compile(r'^\s*(password|enable_password)\s*=\s*"([^"]*)"\s*;', re.M)


def stored_hashes(text: str | None) -> dict[str, str]:
    return dict(_HASH_LINE.findall(text or ""))


@operation()
def controller_config(path: str, render, password: str, enable_password: str, user: str, group: str):
    """worker-controller.inc with password hashes that are replaced only when they stop verifying.

    ``render(password_hash=..., enable_password_hash=...)`` gives the file's text.
    """
    current = host.get_fact(FileText, path=path)
    stored = stored_hashes(current)
    hashes = {}
    for key, secret in (("password", password), ("enable_password", enable_password)):
        old = stored.get(key)
        hashes[key] = old if rspamd_password.verify(secret, old) else rspamd_password.make_hash(secret)
    content = render(password_hash=hashes["password"], enable_password_hash=hashes["enable_password"])
    yield from text_file._inner(path, content, user=user, group=group, mode=640)


@operation()
def map_file(path: str, entries, user: str, group: str):
    """A multimap map file: created when missing, listed entries ensured, other lines kept."""
    current = host.get_fact(FileText, path=path)
    lines = (current or "").splitlines()
    present = {line.split("#", 1)[0].strip() for line in lines}
    missing = [entry for entry in entries if entry not in present]
    if current is None or missing:
        content = "".join(f"{line}\n" for line in lines + missing)
        yield from _install(content, path, (user, group, 644))
        return
    commands = list(_metadata_commands(path, host.get_fact(File, path=path), user, group, 644))
    if not commands:
        host.noop(f"{path} has all listed entries")
        return
    yield from commands


@operation()
def dkim_key(path: str, bits: int, user: str, group: str):
    """Generate a DKIM private key only when none exists: a published record depends on it."""
    meta = host.get_fact(File, path=path)
    if meta:
        commands = list(_metadata_commands(path, meta, user, group, 600))
        if not commands:
            host.noop(f"{path} exists (never replaced)")
            return
        yield from commands
        return
    yield from _install(dkim.generate_private_key_pem(bits), path, (user, group, 600), replace=False)


@operation()
def group_member(user: str, groups):
    """Append ``user`` to ``groups``, keeping its other memberships."""
    current = set(host.get_fact(GroupsOf, user=user))
    missing = [g for g in groups if g not in current]
    if not missing:
        host.noop(f"{user} is in {', '.join(groups)}")
        return
    for group in missing:
        yield StringCommand("usermod", "-a", "-G", group, user)


@operation()
def postconf(values: dict):
    """Set Postfix main.cf parameters with postconf -e, only those that differ."""
    current = host.get_fact(PostconfValues, names=sorted(values))
    changes = [f"{k} = {v}" for k, v in values.items() if current.get(k) != v]
    if not changes:
        host.noop("Postfix milter settings are in place")
        return
    yield "postconf -e " + " ".join(shlex.quote(c) for c in changes)


@operation()
def command_unless_files(globs, command: str, reason: str):
    """Run ``command`` only while no file matches ``globs``."""
    found = host.get_fact(FilesMatching, globs=list(globs))
    if found:
        host.noop(reason)
        return
    yield command
