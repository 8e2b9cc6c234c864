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
import tarfile
from dataclasses import dataclass
from pathlib import Path

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


def host_directory(root: Path, host_name: str, stamp: str) -> Path:
    """``<root>/<host>/<stamp>``, every level private to its owner."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", host_name).strip("_") or "host"
    path = root / safe / stamp
    for level in (root, root / safe):
        level.mkdir(mode=0o700, exist_ok=True)
        os.chmod(level, 0o700)
    return path


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
                raise BackupError(f"{archive.name}: {member.name} is not a regular file or directory")
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
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name.removeprefix("./")] = digest
        present = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.name != SUMS}
        for name in sorted(present - set(listed)):
            raise BackupError(f"{directory}: {name} is not in {SUMS}")
        for name, digest in sorted(listed.items()):
            path = directory / name
            if not path.is_file() or path.is_symlink():
                raise BackupError(f"{directory}: {name} is listed in {SUMS} but missing")
            if sha256_of(path) != digest:
                raise BackupError(f"{directory}: {name} does not match its checksum: the backup is damaged")
        return cls(directory, {name: (directory / name).stat().st_size for name in sorted(listed)})

    def under(self, item: str) -> dict[str, Path]:
        """The files of a directory item (``dkim``, ``maps``...) by file name."""
        prefix = f"{item}/"
        return {
            n[len(prefix) :]: self.directory / n
            for n in self.files
            if n.startswith(prefix) and "/" not in n[len(prefix) :]
        }

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
