"""Files the deploy writes, edits or keeps: whole files, maps, directives, marked blocks,
directories, downloads. Each reads the host's state, then yields commands or says host.noop(), as
pyinfra's own operations do. None prints a file's content unless --diff asks, and files that hold
secrets (password hashes, private keys, custom snippets) are compared by hash and never diffed.

Why not pyinfra's built-ins (files.put, files.directory, server.packages, systemd.service)?
Each of those asks its own facts, often three per file (File, Directory, Sha1File), each a
round trip. These read through ``hoststate`` instead, one command for every managed path, user,
unit and package, so a no-op rerun costs one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from io import BytesIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError
from pyinfra.api.util import format_text
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from mailguard.layout import KEEP_ORIGINAL, STAGING_DIR, STASH, original

from .commands import Command, script
from .hoststate import HostReads, Snapshot, operation_reading


def leaves(kind: str, items_of: Callable[..., Iterable], service: str | None = None):
    """What the operation writes, entered in the run's footprint (``HostReads.wrote``, as ``kind``)
    when it is called, with the service that reads it (``service``, else the operation's own
    ``service`` or ``backup``): remove.py reads it to give the host back."""

    def decorator(call):
        @functools.wraps(call)
        def recorded(*args, reads: HostReads, **kwargs):
            for item in items_of(*args, **kwargs):
                reads.wrote(kind, item, service or kwargs.get("service") or kwargs.get("backup"))
            return call(*args, reads=reads, **kwargs)

        del recorded.__wrapped__  # (its signature is the call's own)
        return recorded

    return decorator


def metadata_commands(path: str, current: dict | None, user: str, group: str, mode: int):
    """Owner and mode set where they differ (mode as stat %a gives it: 640), on the file itself
    (files.sh metadata: never through a link)."""
    if current and current.get("user") == user and current.get("group") == group and current.get("mode") == mode:
        return
    yield script("files", "metadata", path, f"{user}:{group}", str(mode))


def install_file(
    content: str | bytes,
    path: str,
    owner: tuple[str, str, int],
    replace: bool = True,
    backup: str | None = None,
    how: str | None = None,
):
    """Write ``path`` atomically, whoever else may write its directory.

    The content is uploaded to a root-only staging directory and given its owner and mode there
    (``owner`` is (user, group, mode)). It is then copied beside ``path`` as a new file (cp removes
    whatever has the name and creates the file exclusively, setting owner and mode on it, never
    on a link's target) and renamed over ``path``, which replaces a link rather than follows it.
    ``replace=False`` links instead of renaming: it fails rather than replace a file that
    appeared meanwhile; ``how="beside"`` leaves it beside ``path`` (``path``.mailguard-new), for the
    caller to rename. ``backup`` names the checked service whose last good version of the file is
    kept first (see activate).
    """
    data = content.encode() if isinstance(content, str) else content
    staging = _staging(path)
    if backup:
        yield Command(STASH, backup, path)
    yield script("files", "stage", STAGING_DIR, staging)
    yield FileUploadCommand(BytesIO(data), staging, remote_temp_filename=staging)
    yield _place(staging, path, owner, how or ("replace" if replace else "link"))


def _staging(path: str) -> str:
    return f"{STAGING_DIR}/{hashlib.sha256(path.encode()).hexdigest()[:24]}"


def _place(staging: str, path: str, owner: tuple[str, str, int], how: str) -> Command:
    """The staged file, given its owner and mode, put at ``path`` (see install_file): "replace",
    "link" or "beside"."""
    user, group, mode = owner
    return script("files", "place", staging, path, f"{user}:{group}", str(mode), how)


def copy_host_file(src: str, path: str, owner: tuple[str, str, int], replace: bool = False):
    """``src`` (a file on the host) installed at ``path`` as install_file does, never through a link."""
    staging = _staging(path)
    yield script("files", "stage", STAGING_DIR, staging)
    yield script("files", "copy", src, staging)
    yield _place(staging, path, owner, "replace" if replace else "link")


def planted_link(reads: HostReads, current: dict | None, path: str) -> bool:
    """Whether ``path`` is a symbolic link where the deploy manages a file: it is said once and
    left alone (never followed: in a directory a service can write, its target may be anything).
    The operation that asks then ends without a command."""
    if not current or current["type"] != "symbolic link":
        return False
    reads.warn_once(f"{path} is a symbolic link, not a file mailguard wrote: left alone, never followed")
    host.noop(f"{path} left alone")
    return True


def owner_of(meta: dict | None) -> tuple[str, str, int]:
    """(user, group, mode) of a stat answer, to keep when the file is replaced (root's 644 if none)."""
    return (meta["user"], meta["group"], meta["mode"]) if meta else ("root", "root", 644)


def _sha256(content: str | bytes) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def file_commands(
    path: str, content: str | bytes, current: dict | None, user: str, group: str, mode: int, backup: str | None = None
):
    if current is None or current["sha256"] != _sha256(content):
        return list(install_file(content, path, (user, group, mode), backup=backup))
    return list(metadata_commands(path, current, user, group, mode))


def _show_diff(path: str, current: dict | None, content: str) -> None:
    """What pyinfra's files.put prints with --diff (asked only then: one more command)."""
    old = host.get_fact(FileContents, path=path) if current else None
    host.log(f"Will {'modify' if current else 'create'} {format_text(path, bold=True)}", logger.info)
    for line in generate_color_diff([line + "\n" for line in old or []], content.splitlines(keepends=True)):
        logger.info("  %s", line)
    logger.info("")


def _keeps_original(path: str) -> list[tuple[str, str]]:
    return [("stat", path), ("managed", path), ("stat", original(path))]


def keep_admins_version(reads: HostReads, state: Snapshot, path: str, content: str | bytes) -> list[Command]:
    """Before the deploy first replaces a file it did not write: keep the admin's version, say so.

    The line appears wherever the plan is made: in the run, and in a ``--dry`` preview.
    """
    current = state.stat(path)
    if current is None or current["type"] != "regular file" or current["sha256"] == _sha256(content):
        return []
    if state.managed(path) or state.stat(original(path)):
        return []
    reads.warn_once(f"replacing {path}, which mailguard did not write: your version is kept in {original(path)}")
    return [Command(KEEP_ORIGINAL, path)]


@leaves("whole", lambda path, *a, **k: [path])
@operation_reading(lambda path, *a, **k: _keeps_original(path))
def text_file(
    path: str,
    content: str,
    user: str = "root",
    group: str = "root",
    mode: int = 644,
    backup: str | None = None,
    secret: bool = False,
    keep_original: bool = True,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """A whole file, compared by sha256 on the host; with --diff its changes are shown unless ``secret``.

    ``keep_original``: an existing file the deploy did not write is kept first (``keep_admins_version``).
    """
    current = state.stat(path)
    if planted_link(reads, current, path):
        return
    commands = file_commands(path, content, current, user, group, mode, backup)
    if not commands:
        host.noop(f"{path} is up to date")
        return
    if host.state.config.DIFF and not secret and (current is None or current["sha256"] != _sha256(content)):
        _show_diff(path, current, content)
    if keep_original:
        yield from keep_admins_version(reads, state, path, content)
    yield from commands


MOVED_MAP = "# mailguard: this list moved to {path}"  # what a taken-over map file becomes


def _map_entry(line: str) -> str:
    return line.split("#", 1)[0].strip()


def merged_map(current: str | None, legacy: str | None, entries) -> str:
    """A map's lines: its own, then a legacy map's lines it lacks (comments and order kept), then
    the listed ``entries`` it lacks. No entry twice."""
    lines = (current or "").splitlines()
    present_entries = {_map_entry(line) for line in lines} - {""}
    present_lines = set(lines)
    for line in (legacy or "").splitlines():
        entry = _map_entry(line)
        if line.startswith(MOVED_MAP.split("{")[0]) or (entry and entry in present_entries):
            continue
        if not entry and line in present_lines:
            continue  # the same comment (or blank line) already there: a second merge adds nothing
        lines.append(line)
        present_entries.add(entry)
        present_lines.add(line)
    lines += [entry for entry in entries if entry not in present_entries]
    return "".join(f"{line}\n" for line in lines)


def _map_wants(path: str, *a, legacy: str | None = None, **k) -> list[tuple[str, str]]:
    wants = [("text", path), ("stat", path)]
    return wants + ([("text", legacy), ("stat", legacy), ("stat", original(legacy))] if legacy else [])


@leaves("maps", lambda path, *a, **k: [path])
@leaves("edited", lambda path, *a, legacy=None, **k: [legacy] if legacy else [])
@operation_reading(_map_wants)
def map_file(
    path: str,
    entries,
    user: str,
    group: str,
    backup: str | None = None,
    legacy: str | None = None,
    merged_from: str | None = None,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """A multimap map file: created when missing, listed entries ensured, other lines kept.
    ``merged_from``: another copy of this map (a backup's): its lines the file lacks are added,
    comments and all, as a legacy list's are.

    ``legacy``: where the seed kept this list. Its entries are merged in once; then it is kept
    in the originals and replaced by a one-line pointer to ``path``.
    """
    if planted_link(reads, state.stat(path), path) or (legacy and planted_link(reads, state.stat(legacy), legacy)):
        return
    current = state.text(path)
    old = state.text(legacy) if legacy else None
    if old is not None and old.startswith(MOVED_MAP.split("{")[0]):
        old = None
    wanted = merged_map(current, old, entries)
    if merged_from is not None:
        wanted = merged_map(wanted, merged_from, [])
    commands: list = []
    if current is None or wanted != current:
        commands += install_file(wanted, path, (user, group, 644), backup=backup)
    else:
        commands += metadata_commands(path, state.stat(path), user, group, 644)
    if legacy and old is not None:
        reads.warn_once(f"{legacy}: its entries now live in {path}; the file is kept in {original(legacy)}")
        if not state.stat(original(legacy)):
            commands.append(Command(KEEP_ORIGINAL, legacy))
        moved = MOVED_MAP.format(path=path) + "\n"
        commands += install_file(moved, legacy, owner_of(state.stat(legacy)), backup=backup)
    if not commands:
        host.noop(f"{path} has all listed entries")
        return
    yield from commands


def _present(current: dict | None, path: str, kind: str, create: Command, user: str, group: str, mode: int, noop: str):
    """``path`` as a ``kind`` ("regular file", "directory"): created when missing, owner and mode right."""
    if current is not None and current["type"] != kind:
        raise OperationError(f"{path} exists and is a {current['type']}, not a {kind}: left alone, never followed")
    commands = [] if current else [create]
    commands += metadata_commands(path, current, user, group, mode)
    if not commands:
        host.noop(noop)
        return
    yield from commands


@operation_reading(lambda path, *a, **k: [("stat", path)])
def text_file_exists(path: str, user: str, group: str, mode: int, *, state: Snapshot):
    """A file that a service writes (a log): created empty when missing, its owner and mode kept right."""
    create = Command("install", "-m", str(mode), "/dev/null", path)
    yield from _present(state.stat(path), path, "regular file", create, user, group, mode, f"{path} is in place")


@operation_reading(lambda path, *a, **k: [("stat", path)])
def file_absent(path: str, backup: str | None = None, *, state: Snapshot):
    """Remove a file the deploy wrote earlier and no longer wants (kept first for a rollback)."""
    if not state.stat(path):
        host.noop(f"{path} is absent")
        return
    if backup:
        yield Command(STASH, backup, path)
    yield Command("rm", "-f", "--", path)


@operation_reading(lambda path, *a, **k: [("stat", path)])
def directory(path: str, user: str, group: str, mode: int, *, state: Snapshot):
    yield from _present(
        state.stat(path),
        path,
        "directory",
        Command("mkdir", "-p", "--", path),
        user,
        group,
        mode,
        f"{path}/ is in place",
    )


@operation_reading(lambda path, *a, **k: [("stat", path)])
def download(path: str, url: str, *, state: Snapshot):
    """Fetch ``url`` to ``path`` once (a repository key); an existing file is kept."""
    if state.stat(path):
        host.noop(f"{path} exists")
        return
    yield script("download", url, path)
