"""Backups on the admin's machine (checked, private, never trusting the host's archive) and the
restore planned against modelled hosts: what it puts back, and what it refuses before any change."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from hostmodel import ROOT, HostModel, by_name, plan
from pyinfra.api.exceptions import PyinfraError
from support import PASSWORDS, SETTINGS

from mailguard import backups, dkim, layout
from operations import files

KEY = dkim.generate_private_key_pem(1024)
KEY_PATH = "/var/lib/rspamd/dkim/example.com.dkim-2026-11.key"
RESTORE = ROOT / "restore.py"


def make_backup(directory: Path, files: dict[str, bytes]) -> Path:
    """A backup as backup.py leaves it: the files, SHA256SUMS, every level private."""
    directory.mkdir(mode=0o700)
    sums = []
    for name, data in sorted(files.items()):
        path = directory / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(data)
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n")  # as sha256sum writes such a name
        marked = "\\" if escaped != name else ""
        sums.append(f"{marked}{hashlib.sha256(data).hexdigest()}  ./{escaped}")
    (directory / backups.SUMS).write_text("\n".join(sums) + "\n")
    return directory


FILES = {
    "dkim/example.com.dkim-2026-11.key": KEY,
    "dkim-keys": dkim.state_text({"example.com": dkim.KeyState("dkim-2026-11")}).encode(),
    "maps/blacklist_sender_email.map": b"# by hand\nhand@spam.example.net\n",
    "worker-controller.inc": b'# Managed by mailguard\npassword = "$2$x$y";\n',
    "redis.rdb": b"REDIS0011 not really",
}


def test_a_backup_is_checked_file_by_file(tmp_path):
    held = backups.Backup.verified(make_backup(tmp_path / "b", FILES))
    assert held.summary().startswith("DKIM keys: 1 (")
    assert "5 files" in held.summary() and "checksums verified" in held.summary()
    assert "hand@spam" not in held.summary() and "PRIVATE" not in held.summary()
    (tmp_path / "b" / "maps" / "blacklist_sender_email.map").write_bytes(b"changed\n")
    with pytest.raises(backups.BackupError, match="'maps/blacklist_sender_email.map' does not match its checksum"):
        backups.Backup.verified(tmp_path / "b")


def test_a_backup_others_can_open_or_with_an_unlisted_file_is_refused(tmp_path):
    made = make_backup(tmp_path / "b", FILES)
    (made / "dkim" / "planted.key").write_bytes(b"x")
    with pytest.raises(backups.BackupError, match="'dkim/planted.key' is not in SHA256SUMS"):
        backups.Backup.verified(made)
    os.chmod(made, 0o755)
    with pytest.raises(backups.BackupError, match="can be opened by others"):
        backups.Backup.verified(made)


@pytest.mark.parametrize("kind", ["symlink", "escape"])
def test_an_archive_with_a_link_or_a_path_outside_is_never_unpacked(tmp_path, kind):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        member = tarfile.TarInfo("./dkim/example.com.dkim.key" if kind == "symlink" else "../outside")
        if kind == "symlink":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/shadow"
            tar.addfile(member)
        else:
            member.size = 1
            tar.addfile(member, io.BytesIO(b"x"))
    with pytest.raises((backups.BackupError, tarfile.TarError)):
        backups.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "outside").exists()


def test_the_restore_puts_back_keys_state_maps_hashes_and_redis(tmp_path):
    made = make_backup(tmp_path / "b", FILES)
    model = HostModel.load("debian13", "fresh")
    ops = plan(model, SETTINGS, {**PASSWORDS, backups.RESTORE_ENV: str(made)}, deploy_file=RESTORE)
    files = {path: data for op in ops for path, data in op.uploads().items()}
    # (the key operation after it plans a key too: while planning, the restored one is not there yet;
    # when it runs, it finds it and leaves it: see the end-to-end test)
    assert by_name(ops)[f"Restore: {KEY_PATH}"].uploads() == {KEY_PATH: KEY}
    assert files[layout.DKIM_STATE] == FILES["dkim-keys"]
    restored_map = by_name(ops)["Restore: map blacklist_sender_email.map (entries merged)"].uploads()
    blacklist = "/etc/rspamd/local.d/maps.d/blacklist_sender_email.map"
    assert restored_map == {blacklist: FILES["maps/blacklist_sender_email.map"]}  # comments and all
    assert files["/var/lib/redis/dump.rdb"] == FILES["redis.rdb"]
    names = by_name(ops)
    redis = names["Restore: Redis's data"].commands
    # Redis stops only for the rename of the dump staged beside it (swap-stopped.sh starts it again
    # whatever the rename did: its own test shows it)
    (swap,) = [c for c in redis if isinstance(c, str) and c.startswith("swap-stopped.sh")]
    assert swap.args == ("redis-server", "/var/lib/redis/dump.rdb.mailguard-new", "/var/lib/redis/dump.rdb")
    (beside,) = [c for c in redis if isinstance(c, str) and c.startswith("files.sh place") and c.args[-1] == "beside"]
    assert beside.args[2:] == ("/var/lib/redis/dump.rdb", "redis:redis", "660", "beside")
    assert redis.index(beside) < redis.index(swap)
    signing = files["/etc/rspamd/local.d/dkim_signing.conf"].decode()
    assert 'selector = "dkim-2026-11";' in signing  # the backup's signing key, not the settings' selector
    assert not any("example.com.dkim.key" in path for path in files)


def test_a_different_key_or_redis_data_on_the_host_is_refused_before_any_change(tmp_path):
    made = make_backup(tmp_path / "b", FILES)
    env = {**PASSWORDS, backups.RESTORE_ENV: str(made)}
    model = HostModel.load("debian13", "fresh")
    model.files[KEY_PATH] = {
        "text": dkim.generate_private_key_pem(1024).decode(),
        "user": "_rspamd",
        "group": "_rspamd",
        "mode": 600,
    }
    with pytest.raises(PyinfraError, match=f"restore: {KEY_PATH} differs from the backup's.*nothing was changed"):
        plan(model, SETTINGS, env, deploy_file=RESTORE)
    model = HostModel.load("debian13", "fresh")
    model.packages.append("redis-server")
    model.redis_keys = 12
    with pytest.raises(PyinfraError, match="Redis already holds 12 keys"):
        plan(model, SETTINGS, env, deploy_file=RESTORE)
    with pytest.raises(PyinfraError, match="MAIL_RESTORE_FROM: .* is not a directory|is not a directory"):
        plan(
            HostModel.load("debian13", "fresh"),
            SETTINGS,
            {**PASSWORDS, backups.RESTORE_ENV: str(tmp_path / "none")},
            deploy_file=RESTORE,
        )


def test_a_backups_map_merged_twice_adds_nothing_the_second_time():
    backup = "# listed by hand\nhand@spam.example.net\n\n# from the web UI\nweb@spam.example.net\n"
    host = "spam@bad.example.net\n"
    once = files.merged_map(host, backup, [])
    assert once == host + backup  # every entry, comment and blank line of the backup, after the host's own
    assert files.merged_map(once, backup, []) == once
    assert files.merged_map(None, backup, []) == backup


def test_a_replica_gets_the_keys_and_maps_back_but_not_the_redis_dump(tmp_path, caplog):
    """Replication would replace a replica's data with the primary's at once: its dump goes onto the primary."""
    import logging

    made = make_backup(tmp_path / "b", FILES)
    replica = {**SETTINGS, "redis_primary": "10.77.0.11", "private_address": "10.77.0.12"}
    env = {**PASSWORDS, backups.RESTORE_ENV: str(made), "REDIS_REPLICATION_PASSWORD": "a-group-password-0123"}
    model = HostModel.load("debian13", "fresh")
    with caplog.at_level(logging.WARNING):
        ops = by_name(plan(model, replica, env, deploy_file=RESTORE))
    assert ops[f"Restore: {KEY_PATH}"].uploads() == {KEY_PATH: KEY}
    assert "Restore: Redis's data" not in ops
    assert "Redis's data is not put back here: this host is a replica of 10.77.0.11" in caplog.text
