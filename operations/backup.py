"""Backup and restore: what a rebuilt server needs to carry on as the old one (backup.py, restore.py).

The backup is made on the host in a root-only directory (copies that never follow a link, a
Redis dump taken over Redis's own socket, a checksum per file), fetched to the admin's machine
and checked there. The restore puts each piece back as the deploy would make it, and refuses to
replace a DKIM key that differs from the backup's: a published record depends on that key.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileDownloadCommand, FunctionCommand, OperationError, operation
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from mailguard import backups, dkim, layout, rspamd_config
from mailguard.backups import Backup, BackupError
from mailguard.layout import dkim_dir
from mailguard.platforms import Platform
from mailguard.settings import Settings

from . import files, mail_filter, preflight
from .commands import Command, script
from .context import HostContext
from .dkim import key_directory
from .hoststate import HostReads, Snapshot, operation_reading
from .rspamd import maps_directory

ARCHIVE = f"{layout.BACKUP_DIR}/backup.tar"
REDIS_RESTORED = f"{layout.STATE_DIR}/restored-redis"  # the sha256 of the dump restore.py put in place


class RestoreRefused(PyinfraError):
    pass


class BackupRefused(PyinfraError):
    pass


def host_paths(platform: Platform) -> dict[str, str]:
    """Where each item of a backup lives on the host (Redis's dump is taken, not copied)."""
    conf = platform.rspamd_conf_dir
    return {
        "dkim": dkim_dir(platform.rspamd_db_dir),
        "retired-dkim": layout.RETIRED_DKIM_DIR,
        "dkim-keys": layout.DKIM_STATE,
        "maps": f"{conf}/{rspamd_config.MAPS_DIR}",
        "worker-controller.inc": f"{conf}/{rspamd_config.CONTROLLER}",
    }


def archive_command(platform: Platform, handover: str) -> Command:
    """The host gathers the backup in a root-only directory, archives it and hands the archive over
    in ``handover`` (templates/tools/backup-archive.sh)."""
    items = [word for item, path in host_paths(platform).items() for word in (item, backups.ITEMS[item][0], path)]
    return script(
        "backup-archive", layout.BACKUP_DIR, backups.SUMS, platform.redis_socket, layout.REDIS_CLIENT_AUTH, handover,
        *items,
    )  # fmt: skip


def backup(ctx: HostContext) -> None:
    """backup.py: the host's keys, maps, password hashes and Redis dump, to the admin's machine."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    root = Path(os.environ.get(backups.DIRECTORY_ENV) or "backups")
    try:
        destination = backups.host_directory(root, ctx.name, stamp)
    except (BackupError, OSError) as error:
        raise BackupRefused(f"mailguard: backup of {ctx.name}: {error}; nothing was fetched") from None
    fetched(
        name="Backup: made on the host, fetched and checked here", platform=ctx.platform, destination=str(destination)
    )


@operation()
def fetched(platform: Platform, destination: str):
    target = Path(destination)
    archive = target.with_name(f".{target.name}.tar")
    # A new name each run, made by the host as a directory of the login user's only (never one that
    # another user made first): fetched from there without sudo, then removed.
    handover = f"/tmp/mailguard-backup-{secrets.token_hex(16)}"
    yield archive_command(platform, handover)
    yield FileDownloadCommand(f"{handover}/backup.tar", str(archive), _sudo=False)
    yield FunctionCommand(_check_and_say, (archive, target), {})
    yield Command("rm", "-rf", "--", layout.BACKUP_DIR, handover)


def _check_and_say(archive: Path, destination: Path) -> None:
    try:
        os.chmod(archive, 0o600)
        backups.unpack(archive, destination)
        held = Backup.verified(destination)
    except (BackupError, OSError, ValueError) as error:
        raise OperationError(f"mailguard: backup of {host.name}: {error}") from None
    finally:
        archive.unlink(missing_ok=True)
    print(f"\n--> Backup of {host.name}: {destination}\n    {held.summary()}\n")


# --- restore.py ---------------------------------------------------------------------------------


def read_backup(host_name: str) -> Backup:
    """The backup named by MAIL_RESTORE_FROM, checked before the host is touched."""
    where = os.environ.get(backups.RESTORE_ENV)
    if not where:
        raise RestoreRefused(f"mailguard: {backups.RESTORE_ENV} is not set: name the backup directory to restore")
    try:
        return Backup.verified(Path(where))
    except BackupError as error:
        raise RestoreRefused(f"mailguard: {host_name}: restore: {error}; nothing was changed") from None


def _wanted_files(held: Backup, platform: Platform) -> dict[str, Path]:
    """Host path -> backup file, for the keys, the retired keys and the signing state."""
    paths = host_paths(platform)
    wanted = {f"{paths['dkim']}/{name}": file for name, file in held.under("dkim").items()}
    wanted |= {f"{paths['retired-dkim']}/{name}": file for name, file in held.under("retired-dkim").items()}
    state = held.item("dkim-keys")
    if state:
        wanted[paths["dkim-keys"]] = state
    return wanted


def refusal(ctx: HostContext, held: Backup) -> str | None:
    """Why the restore must not go on, in one line: a key (or signing state) on the host that differs,
    or a Redis holding data the backup's dump would replace (a replica's is the primary's: never restored)."""
    platform = ctx.platform
    wanted = _wanted_files(held, platform)
    snap = ctx.reads.snapshot(
        *[("stat", p) for p in wanted], ("text", REDIS_RESTORED), ("dbsize", platform.redis_socket)
    )
    for path, file in wanted.items():
        current = snap.stat(path)
        if current and current["sha256"] != backups.sha256_of(file):
            return f"{path} differs from the backup's: a published DNS record may depend on it (it was not replaced)"
    dump = _dump_to_restore(ctx, held)
    keys = snap.dbsize(platform.redis_socket)
    if dump and keys and (snap.text(REDIS_RESTORED) or "").strip() != backups.sha256_of(dump):
        return f"Redis already holds {keys} keys: the backup's dump would replace them (restore onto a fresh host)"
    return None


def restore(target: Host, settings: Settings) -> None:
    """restore.py: the backup's keys, state, maps, hashes and Redis dump, then the ordinary deploy,
    planned with the keys the backup's host signed with (else the host's own state, or the settings)."""
    held = read_backup(target.name)
    problem = refusal(preflight.context(target, settings), held)  # the deploy's own checks follow, before any change
    if problem:
        raise RestoreRefused(f"mailguard: {target.name}: restore: {problem}; nothing was changed")
    state = held.item("dkim-keys")
    states = dkim.states_for(settings.domains, settings.selector_for, state.read_text()) if state else None
    ctx = preflight.prepare(target, settings, key_states=states)
    pending_marks = mail_filter.install(ctx)
    _put_back(ctx, held)  # once the packages are there, before any service is configured
    mail_filter.configure(ctx, pending_marks)


def _dump_to_restore(ctx: HostContext, held: Backup):
    """The backup's Redis dump, unless this host is a replica: replication replaces a replica's data
    with the primary's at once, so the dump is restored onto the primary only."""
    dump = held.item("redis.rdb")
    if dump and ctx.settings.redis_role == "replica":
        ctx.reads.warn_once(
            f"restore: Redis's data is not put back here: this host is a replica of {ctx.settings.redis_primary} "
            "and takes its data; restore this backup onto the primary for it"
        )
        return None
    return dump


def _put_back(ctx: HostContext, held: Backup) -> None:
    platform, reads = ctx.platform, ctx.reads
    user, group = platform.rspamd_user, platform.rspamd_group
    paths = host_paths(platform)
    key_directory(reads, platform, "Restore: DKIM key directory")
    if held.under("retired-dkim"):
        files.directory(
            name="Restore: retired keys", path=paths["retired-dkim"], user="root", group="root", mode=700, reads=reads
        )
    for path, file in _wanted_files(held, platform).items():
        owner = (user, group, 600) if path.startswith(paths["dkim"] + "/") else ("root", "root", 600)
        restored_file(name=f"Restore: {path}", path=path, content=file.read_bytes(), owner=owner, reads=reads)
    for name, problem in held.unrestorable().items():
        reads.warn_once(f"restore: {name!r} is not restored: {problem}")
    maps = held.under("maps")
    if maps:
        maps_directory(reads, platform, "Restore: maps directory")
    for name, file in maps.items():
        files.map_file(
            name=f"Restore: map {name} (entries merged)",
            path=f"{paths['maps']}/{name}",
            entries=[],
            merged_from=file.read_text(errors="replace"),
            user=user,
            group=group,
            reads=reads,
        )
    controller = held.item("worker-controller.inc")
    if controller:
        restored_file(
            name="Restore: the web UI's password hashes (where the host has none)",
            path=paths["worker-controller.inc"],
            content=controller.read_bytes(),
            owner=("root", group, 640),
            keep_existing=True,
            reads=reads,
        )
    dump = _dump_to_restore(ctx, held)
    if dump:
        redis_dump(name="Restore: Redis's data", platform=platform, content=dump.read_bytes(), reads=reads)


@operation_reading(lambda path, *a, **k: [("stat", path)])
def restored_file(
    path: str,
    content: bytes,
    owner: tuple[str, str, int],
    keep_existing: bool = False,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """A file as the backup has it, where the host has none; the same one is left as it is."""
    current = state.stat(path)
    if files.planted_link(reads, current, path):
        return
    if current and current["sha256"] != hashlib.sha256(content).hexdigest():
        if keep_existing:
            host.noop(f"{path}: the host's own is kept")
            return
        raise OperationError(f"mailguard: {path} differs from the backup's: left as it is")
    if current:
        commands = list(files.metadata_commands(path, current, *owner))
        if not commands:
            host.noop(f"{path} is as in the backup")
        yield from commands
        return
    yield from files.install_file(content, path, owner, replace=False)


@operation_reading(lambda platform, *a, **k: [("text", REDIS_RESTORED)])
def redis_dump(platform: Platform, content: bytes, *, state: Snapshot):
    """Redis's data from the backup, loaded once (a rerun finds the mark and leaves Redis alone).

    Redis saves its own data when it stops: the dump is put in place after the stop, then Redis
    loads it as it starts. The dump's directory is Redis's: the file is placed by a rename.
    """
    digest = hashlib.sha256(content).hexdigest()
    if (state.text(REDIS_RESTORED) or "").strip() == digest:
        host.noop("Redis holds the backup's data already (restored before)")
        return
    owner = (platform.redis_user, platform.redis_group, 660)
    # Uploaded and copied beside the dump while Redis runs; Redis stops only for the rename.
    yield from files.install_file(content, platform.redis_dump, owner, how="beside")
    yield script("swap-stopped", platform.redis_unit, f"{platform.redis_dump}.mailguard-new", platform.redis_dump)
    yield from files.install_file(digest + "\n", REDIS_RESTORED, ("root", "root", 600))
