"""Backups on the admin's machine: what backup.py fetched, checked against its checksums, and read
back by restore.py. Nothing here prints a file's content.

A backup is a directory only its owner may open (0700, files 0600) holding ``SHA256SUMS`` and:
    dkim/<domain>.<selector>.key   the DKIM keys rspamd signs with (and a rotation's next key)
    retired-dkim/...               keys a rotation retired
    dkim-keys                      which key each domain signs with (after a rotation)
    maps/<name>.map                the multimap lists (entries the web UI added too)
    worker-controller.inc          the web UI's password hashes
    redis.rdb                      Redis: Bayes, fuzzy hashes, greylisting, DMARC report data, history
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from . import dkim, names

SUMS = "SHA256SUMS"
# logical name -> (kind, what it is); the host side copies each from the platform's path
ITEMS = {
    "dkim": ("dir", "DKIM keys"),
    "retired-dkim": ("dir", "retired DKIM keys"),
    "dkim-keys": ("file", "which key each domain signs with"),
    "maps": ("dir", "maps"),
    "worker-controller.inc": ("file", "web UI password hashes"),
    "redis.rdb": ("file", "Redis dump"),
}
DIRECTORY_ENV = "MAIL_BACKUP_DIR"
RESTORE_ENV = "MAIL_RESTORE_FROM"


class BackupError(Exception):
    """What is wrong with a backup, in one line."""


def name_problem(name: str) -> str | None:
    """Why a file of a backup (its path within it) cannot be restored, in a few words; None when it
    can: an item the backup holds, with a DKIM key's name for a key and a file name for a map."""
    item, _, file = name.partition("/")
    if item not in ITEMS:
        return "not something backup.py makes"
    if (ITEMS[item][0] == "dir") != bool(file):
        return f"{item} should be a {'directory' if ITEMS[item][0] == 'dir' else 'file'}"
    if item in ("dkim", "retired-dkim") and not names.KEY_FILE_RE.fullmatch(file):
        return "not a DKIM key's file name (<domain>.<selector>.key)"
    if item == "maps":
        problem = names.file_name_problem(file)
        return f"not a map file name that can be restored: {problem}" if problem else None
    return None


def host_directory(root: Path, host_name: str, stamp: str) -> Path:
    """``<root>/<host>/<stamp>``: each level this user makes is private to it (0700). A level that is
    there already is never changed (MAIL_BACKUP_DIR=/tmp leaves /tmp as it is), and one another user
    owns, or a link, is refused (BackupError): it could read or replace what is put in it."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", host_name).strip("_") or "host"
    for level in (root, root / safe):
        try:
            level.mkdir(mode=0o700)
        except FileExistsError:
            found = os.lstat(level)
            if not stat.S_ISDIR(found.st_mode):
                raise BackupError(f"{level} is not a directory (a link is never followed)") from None
            if found.st_uid != os.getuid():
                raise BackupError(f"{level} belongs to another user: choose another {DIRECTORY_ENV}") from None
    return root / safe / stamp


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(archive: Path, directory: Path) -> None:
    """Unpack what the host sent into a new private directory: regular files and directories
    only, each within it (the archive comes from a host that may be compromised)."""
    directory.mkdir(mode=0o700)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()):
                raise BackupError(f"{archive.name}: {member.name!r} is not a regular file or directory")
        tar.extractall(directory, filter="data")
    for path in [directory, *directory.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


@dataclass(frozen=True)
class Backup:
    directory: Path
    files: dict[str, int]  # relative path -> size, every one checked against SHA256SUMS

    @classmethod
    def verified(cls, directory: Path) -> Backup:
        """The backup in ``directory``, after every file matched its checksum and none is unlisted."""
        if not directory.is_dir():
            raise BackupError(f"{directory} is not a directory")
        if directory.stat().st_mode & 0o077:
            raise BackupError(f"{directory} can be opened by others than its owner (chmod 700 it)")
        sums = directory / SUMS
        if not sums.is_file():
            raise BackupError(f"{directory} has no {SUMS}: not a backup made by backup.py")
        listed = {}
        for line in sums.read_text(errors="surrogateescape").splitlines():
            try:
                name, digest = names.sha256sum_line(line)
            except ValueError as error:
                raise BackupError(f"{directory}: {SUMS}: {error}") from None
            listed[name.removeprefix("./")] = digest
        present = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.name != SUMS}
        for name in sorted(present - set(listed)):
            raise BackupError(f"{directory}: {name!r} is not in {SUMS}")
        for name, digest in sorted(listed.items()):
            path = directory / name
            if not path.is_file() or path.is_symlink():
                raise BackupError(f"{directory}: {name!r} is listed in {SUMS} but missing")
            if sha256_of(path) != digest:
                raise BackupError(f"{directory}: {name!r} does not match its checksum: the backup is damaged")
        for name in sorted(listed):
            problem = name_problem(name)
            if problem and not name.startswith("maps/"):
                raise BackupError(f"{directory}: {name!r}: {problem}")
        state = directory / "dkim-keys"
        if "dkim-keys" in listed:
            try:
                dkim.read_states(state.read_text(errors="surrogateescape"))
            except dkim.StateError as error:
                raise BackupError(f"{directory}: {error}") from None
        return cls(directory, {name: (directory / name).stat().st_size for name in sorted(listed)})

    def under(self, item: str) -> dict[str, Path]:
        """The files of a directory item (``dkim``, ``maps``...) by file name: those that can be restored."""
        prefix = f"{item}/"
        return {
            n[len(prefix) :]: self.directory / n
            for n in self.files
            if n.startswith(prefix) and "/" not in n[len(prefix) :] and not name_problem(n)
        }

    def unrestorable(self) -> dict[str, str]:
        """Maps whose names no file of the host can be given faithfully (another user may have made
        them: a backup copies every file of maps.d), by name: why. restore.py says each and skips it."""
        return {n: problem for n in self.files if n.startswith("maps/") and (problem := name_problem(n))}

    def item(self, name: str) -> Path | None:
        return self.directory / name if name in self.files else None

    def summary(self) -> str:
        """What the backup holds, by kind and size: never a file's content."""
        parts = []
        for item, (kind, label) in ITEMS.items():
            if kind == "dir":
                names = self.under(item)
                if names:
                    size = sum(self.files[f"{item}/{n}"] for n in names)
                    parts.append(f"{label}: {len(names)} ({size} bytes)")
            elif item in self.files:
                parts.append(f"{label} ({self.files[item]} bytes)")
        total = sum(self.files.values())
        return f"{'; '.join(parts) or 'nothing'}; {len(self.files)} files, {total} bytes, checksums verified"
