"""Backup of the shared sandbox (A), restored onto a freshly booted sandbox (B) (issue #18).

A has by now a rotated DKIM key (test_y_rotation, on the full run), map entries added by hand
and Redis data from every test before. B starts from Debian and Postfix only.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import time

import dkim as dkimpy
import dnsworld
import hostile
import pytest
from support import ROOT, pyinfra, send

from mailguard import backups, dkim, layout
from sandbox import host as sandbox
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = pytest.mark.e2e

KEYS = "/var/lib/rspamd/dkim"
MAPS = "/etc/rspamd/local.d/maps.d"
REDIS = "/run/redis/redis.sock"
HAND_ENTRY = "by-hand@restored.example.net"


def _redis_keys(target) -> set[str]:
    # --no-raw: each key quoted, with escapes (a fuzzy hash's key holds its digest's raw bytes)
    return set(target.sh(f"redis-cli --no-raw -s {REDIS} --scan").splitlines())


STANDARD_MAP = re.compile(r"[a-z_]+\.map")  # the deploy's own maps (hostile names are checked on their own)


def _map_entries(target) -> dict[str, list[str]]:
    listing = target.sh(f'cd {MAPS} && for f in [a-z]*_*.map; do echo "== $f"; cat "$f"; done')
    entries: dict[str, list[str]] = {}
    current = ""
    for line in listing.splitlines():
        if line.startswith("== "):
            current = line[3:]
            entries[current] = []
        elif line.split("#", 1)[0].strip():
            entries[current].append(line.split("#", 1)[0].strip())
    return {name: found for name, found in entries.items() if STANDARD_MAP.fullmatch(name)}


def _signing(target) -> tuple[str, str]:
    """(selector, p= value) of the key the host signs example.com with."""
    conf = target.sh("cat /etc/rspamd/local.d/dkim_signing.conf")
    selector = re.search(r'selector = "([^"]+)";', conf).group(1)
    return selector, probes.dkim_public_key(target, f"{KEYS}/example.com.{selector}.key")


@pytest.fixture(scope="module")
def backed_up(deployed, tmp_path_factory):
    target, env, *_ = deployed
    target.sh(f"echo {HAND_ENTRY} >> {MAPS}/blacklist_sender_email.map")  # as the web UI would add it
    # as a compromised web UI or rspamd could name files in maps.d (test_x_hostile_names too)
    hostile.plant(target, "_rspamd", MAPS, hostile.NAMES, content="planted@example.net\n")
    send(target, "sender@outside.example.net", body="a scan rspamd keeps in Redis (history)")
    for _ in range(20):  # run alone, Redis has only what this message left (history, greylisting)
        if _redis_keys(target):
            break
        time.sleep(0.5)
    before = {"signing": _signing(target), "maps": _map_entries(target), "redis": _redis_keys(target)}
    assert before["redis"], "rspamd left no data in Redis"
    root = tmp_path_factory.mktemp("backups")
    result = pyinfra({**env, backups.DIRECTORY_ENV: str(root)}, "-vvv", deploy="backup.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    secrets = [target.sh(f"cat {KEYS}/example.com.{before['signing'][0]}.key")]
    secrets += re.findall(r'"(\$\S+)"', target.sh("cat /etc/rspamd/local.d/worker-controller.inc"))
    return target, env, root, before, output, secrets


def test_the_backup_is_private_checked_and_never_printed(backed_up):
    target, _env, root, before, output, secrets = backed_up
    (made,) = [p for p in root.rglob("*") if p.is_dir() and (p / backups.SUMS).exists()]
    held = backups.Backup.verified(made)
    assert "--> Backup of " in output and "checksums verified" in output
    for directory in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert all(stat.S_IMODE((made / n).stat().st_mode) == 0o600 for n in held.files)
    selector = before["signing"][0]
    assert f"example.com.{selector}.key" in held.under("dkim")
    assert {n for n in held.under("maps") if STANDARD_MAP.fullmatch(n)} == set(before["maps"])
    planted = {n for n in held.files if n.startswith("maps/") and not STANDARD_MAP.fullmatch(n.removeprefix("maps/"))}
    assert planted == {"maps/" + hostile.as_text(n) for n in hostile.NAMES}  # every one, as it is named
    assert held.item("redis.rdb") and held.item("worker-controller.inc")
    for secret in secrets:
        body = "".join(line for line in secret.splitlines() if "PRIVATE KEY" not in line)
        assert body[:48] not in output and body[-48:] not in output
    assert "PRIVATE KEY" not in output
    assert target.sh(f"test -e {layout.BACKUP_DIR} && echo left || echo gone").strip() == "gone"
    (ROOT / "artifacts").mkdir(exist_ok=True)
    listing = "\n".join(f"  {name}: {size} bytes" for name, size in held.files.items())
    (ROOT / "artifacts" / "backup.txt").write_text(f"{held.summary()}\n{listing}\n", errors="backslashreplace")


@pytest.fixture(scope="module")
def restored(backed_up):
    if os.environ.get("MAIL_HOST"):
        pytest.skip("the restore test boots its own sandbox")
    _a, env, root, before, _output, secrets = backed_up
    (made,) = [p for p in root.rglob("*") if p.is_dir() and (p / backups.SUMS).exists()]
    sandbox.down()
    state = sandbox.up()
    b = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    dnsworld.point_host_at_it(b)
    env = {**env, backups.RESTORE_ENV: str(made)}
    result = pyinfra(env, "-vvv", deploy="restore.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for secret in secrets:  # the key and the hashes went up to the host, and into no output
        body = "".join(line for line in secret.splitlines() if "PRIVATE KEY" not in line)
        assert body[:48] not in output and body[-48:] not in output
    assert "PRIVATE KEY" not in output
    return b, env, before, made, output


def test_strange_map_names_are_restored_as_named_and_unsayable_ones_skipped_in_one_line(restored):
    b, _env, _before, _made, output = restored
    for name in hostile.NAMES:
        path = f"{MAPS}/{hostile.as_text(name)}" if hostile.legal(name) else None
        if path is None:
            assert sum(repr(f"maps/{hostile.as_text(name)}") in line and "is not restored" in line
                       for line in output.splitlines()) == 1  # fmt: skip
            continue
        found = b.sh(f"cat -- {shlex.quote(path)} 2>/dev/null || echo missing")
        assert found == "planted@example.net\n", path
    assert hostile.canaries(b) == ""


def test_on_the_restored_host_mail_verifies_against_the_first_hosts_record(restored):
    b, _env, before, _made, _output = restored
    selector, public = before["signing"]
    assert _signing(b) == (selector, public)
    sent = send(b, "alice@example.com", client_ip=None, body="signed on the restored host")
    assert sent.accepted and probes.delivered(b, "bob", sent.token) is not None
    raw = probes.raw_delivered(b, "bob", sent.token)
    record = dkim.txt_value(public).encode()
    assert dkimpy.verify(
        raw, dnsfunc=lambda name, timeout=5: record if name.startswith(f"{selector}.".encode()) else b""
    )


def test_the_restored_host_has_the_same_map_entries_and_redis_keys(restored):
    b, _env, before, _made, _output = restored
    after = _map_entries(b)
    for name, entries in before["maps"].items():
        assert set(entries) <= set(after[name]), name
    assert HAND_ENTRY in after["blacklist_sender_email.map"]
    assert before["redis"] <= _redis_keys(b), sorted(before["redis"] - _redis_keys(b))[:10]
    assert b.sh("stat -c '%U %G %a' /etc/rspamd/local.d/worker-controller.inc").strip() == "root _rspamd 640"


def test_a_rerun_changes_nothing_and_a_different_key_is_refused(restored):
    b, env, before, _made, _output = restored
    rerun = pyinfra(env, deploy="restore.py")
    assert rerun.returncode == 0 and changed_operations(rerun.stdout + rerun.stderr) == []
    selector = before["signing"][0]
    key = f"{KEYS}/example.com.{selector}.key"
    b.sh(f"openssl genrsa -out {key}.other 1024 2>/dev/null && mv {key}.other {key} && chown _rspamd: {key}")
    other = b.sh(f"sha256sum {key}")
    refused = pyinfra(env, deploy="restore.py")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"restore: {key} differs from the backup's" in output and "nothing was changed" in output
    assert b.sh(f"sha256sum {key}") == other
