"""DKIM key rotation on the shared sandbox (issue #18), against a real NSD serving example.com.

The tests run in file order and carry the rotation from stage to stage. Signatures are checked
with dkimpy against what NSD serves, as a receiver would. What each stage printed goes to
artifacts/rotation-<release>.txt for the closing note.
"""

from __future__ import annotations

import datetime
import re

import dkim as dkimpy
import dkimzone
import pytest
from support import ROOT, pyinfra, send, settings_file

from mailguard import layout
from sandbox import host as sandbox
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

ADDRESS = "127.0.53.31"  # this module's authoritative server for example.com
KEYS = "/var/lib/rspamd/dkim"  # rspamd's DBDIR on Debian
NEW = f"dkim-{datetime.date.today():%Y-%m}"
SEEN: dict[str, object] = {}  # what one test leaves for the next


def _rdata(public_key: str) -> str:
    return dkimzone.rdata(public_key)


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    target, env, *_ = deployed
    (ROOT / "artifacts" / f"rotation-{sandbox.release()}.txt").unlink(missing_ok=True)
    zone = dkimzone.Zone(
        tmp_path_factory.mktemp("rotation-nsd"), ADDRESS, probes.dkim_public_key(target, f"{KEYS}/example.com.dkim.key")
    )
    settings = tmp_path_factory.mktemp("rotation") / "settings.toml"
    base = settings_file().read_text() + zone.settings()
    settings.write_text(base)
    yield target, {**env, "MAIL_SETTINGS": str(settings)}, zone, settings, base
    zone.server.stop()


def _signed(target, zone, body: str) -> tuple[bytes, str]:
    sent = send(target, "alice@example.com", client_ip=None, body=body)
    assert sent.accepted and probes.delivered(target, "bob", sent.token) is not None
    raw = probes.raw_delivered(target, "bob", sent.token)
    selector = re.search(rb"\bs=([a-z0-9.-]+);", raw)
    return raw, selector.group(1).decode() if selector else ""


def _rotate(env, *args):
    result = pyinfra(env, *args, deploy="dkim_rotate.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    printed = output[output.find("--> DKIM key rotation") :].split("\n\n", 1)[0]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with (ROOT / "artifacts" / f"rotation-{sandbox.release()}.txt").open("a") as log:
        log.write(f"$ pyinfra -y inventory.py dkim_rotate.py {' '.join(args)}\n{printed}\n\n")
    return output


def test_stage_one_generates_and_prints_the_new_key_and_signing_stays(world):
    target, env, zone, *_ = world
    raw, selector = _signed(target, zone, "signed before the rotation")
    assert selector == "dkim" and dkimpy.verify(raw, dnsfunc=zone.txt)
    SEEN["old mail"] = raw
    output = _rotate(env, "-vvv")  # at every verbosity, no private key is printed
    assert f"example.com: stage 1 of 3: new key {NEW} generated; signing stays with dkim." in output
    printed = re.search(rf"publish: ({re.escape(NEW)}\._domainkey\.example\.com\. IN TXT .+)$", output, re.M)
    assert printed, output[-3000:]
    key = f"{KEYS}/example.com.{NEW}.key"
    assert target.sh(f"stat -c '%U %G %a' {key}").strip() == "_rspamd _rspamd 600"
    private = target.sh(f"cat {key}")
    body = "".join(private.strip().splitlines()[1:-1])
    assert "PRIVATE KEY" not in output and body[:64] not in output and body[-64:] not in output
    assert printed.group(1).split(" IN TXT ")[1] == _rdata(probes.dkim_public_key(target, key))
    SEEN["record"] = printed.group(1)  # as a zone file line: the name is absolute
    assert _signed(target, zone, "after stage 1")[1] == "dkim"


def test_the_ordinary_deploy_during_a_rotation_changes_nothing_and_lists_both_records(world):
    target, env, *_ = world
    result = pyinfra(env)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and changed_operations(output) == [], output[-3000:]
    assert re.search(rf"^{re.escape(NEW)}\._domainkey\.example\.com\s+TXT", output, re.M)
    assert re.search(r"^dkim\._domainkey\.example\.com\s+TXT", output, re.M)
    assert "next=" in target.sh(f"cat {layout.DKIM_STATE}")


def test_stage_two_waits_while_the_record_is_not_served(world):
    target, env, zone, *_ = world
    output = _rotate(env)
    assert f"stage 2 of 3: waiting for {NEW}._domainkey.example.com on every authoritative server" in output
    assert "0 of 1 servers" in output and "missing, no DKIM record" in output
    assert _signed(target, zone, "while waiting")[1] == "dkim"


def test_stage_two_switches_once_served_and_old_mail_still_verifies(world):
    target, env, zone, *_ = world
    zone.publish(str(SEEN["record"]))
    output = _rotate(env)
    assert f"every authoritative server serves {NEW} (1 of 1 servers" in output, output[-3000:]
    assert f"signing switches from dkim to {NEW}" in output
    raw, selector = _signed(target, zone, "after the switch")
    assert selector == NEW and dkimpy.verify(raw, dnsfunc=zone.txt)
    assert dkimpy.verify(SEEN["old mail"], dnsfunc=zone.txt)  # the old key is still published
    assert f'selector = "{NEW}";' in target.sh("cat /etc/rspamd/local.d/arc.conf")


def test_after_the_switch_a_deploy_keeps_the_new_key_and_stage_three_waits(world):
    target, env, zone, *_ = world
    result = pyinfra(env)
    assert result.returncode == 0 and changed_operations(result.stdout + result.stderr) == []
    assert _signed(target, zone, "after a deploy")[1] == NEW
    output = _rotate(env)
    until = datetime.date.today() + datetime.timedelta(days=7)
    assert f"stage 3 of 3: signing with {NEW}; dkim._domainkey.example.com stays published until {until}" in output
    assert changed_operations(output) == []


def test_stage_three_retires_the_old_key_once_the_real_wait_is_over(world):
    """dkim_retire_days as set (7, the default): the switch is dated back on the host, as if the
    days had passed; one day short it still waits, then it retires and prints the record to remove."""
    target, env, zone, *_ = world
    old_public = probes.dkim_public_key(target, f"{KEYS}/example.com.dkim.key")
    today = datetime.date.today()
    for days in (6, 7):
        since = today - datetime.timedelta(days=days)
        target.sh(f"sed -i -E 's/since=[0-9-]+/since={since}/' {layout.DKIM_STATE}")
        output = _rotate(env)
        if days == 6:
            until = since + datetime.timedelta(days=7)
            assert f"dkim._domainkey.example.com stays published until {until}" in output, output[-3000:]
            assert target.sh(f"test -e {KEYS}/example.com.dkim.key && echo there").strip() == "there"
    assert "stage 3 of 3: dkim retired" in output
    assert f"remove:  dkim._domainkey.example.com. IN TXT {_rdata(old_public)}" in output
    assert target.sh(f"test -e {KEYS}/example.com.dkim.key && echo there || echo gone").strip() == "gone"
    retired = target.sh(f"ls {layout.RETIRED_DKIM_DIR}").split()
    assert retired == [f"example.com.dkim.retired-{datetime.date.today()}.key"]
    assert target.sh(f"stat -c '%U %a' {layout.RETIRED_DKIM_DIR}").strip() == "root 700"
    assert target.sh(f"cat {layout.DKIM_STATE}").strip().splitlines()[-1] == f"example.com signing={NEW}"
    assert _signed(target, zone, "after the rotation")[1] == NEW
    result = pyinfra(env)
    assert result.returncode == 0 and changed_operations(result.stdout + result.stderr) == []
