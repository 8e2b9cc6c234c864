"""Ed25519 beside RSA (RFC 8463), on each release's rspamd, staged as a rotation's next key is:
the deploy makes no key and says what to run; dkim_rotate.py makes it and prints its record, and
rspamd signs with it only once a real NSD serves that record; then both signatures verify against
what NSD serves. Then the setting off again, as it was."""

from __future__ import annotations

import re

import dkim as dkimpy
import dkimzone
import pytest
from support import pyinfra, send, settings_file

from mailguard import dkim, layout
from operations.dkim import ED25519_PENDING
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

ADDRESS = "127.0.53.32"  # this module's authoritative server for example.com
KEY = "/var/lib/rspamd/dkim/example.com.dkim-ed25519.key"
RECORD = "dkim-ed25519._domainkey.example.com"


def _algorithms(target, body: str) -> tuple[list[bytes], bytes]:
    sent = send(target, "alice@example.com", client_ip=None, body=body)
    assert sent.accepted and probes.delivered(target, "bob", sent.token) is not None
    raw = probes.raw_delivered(target, "bob", sent.token)
    header = raw.split(b"\n\n", 1)[0]
    return sorted(re.findall(rb"(?m)^DKIM-Signature:(?:.|\n[ \t])*?\ba=([a-z0-9-]+);", header)), raw


def _run(env, deploy="deploy.py") -> str:
    result = pyinfra(env, deploy=deploy)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


@pytest.fixture(scope="module")
def world(deployed, tmp_path_factory):
    target, env, *_ = deployed
    public = probes.dkim_public_key(target, "/var/lib/rspamd/dkim/example.com.dkim.key")
    zone = dkimzone.Zone(tmp_path_factory.mktemp("ed25519-nsd"), ADDRESS, public)
    settings = tmp_path_factory.mktemp("ed25519") / "settings.toml"
    settings.write_text(settings_file().read_text() + zone.settings() + "dkim_ed25519 = true\n")
    yield target, env, {**env, "MAIL_SETTINGS": str(settings)}, zone
    zone.server.stop()


def test_the_deploy_makes_no_ed25519_key_and_says_what_to_run(world):
    target, _env, with_ed25519, _zone = world
    output = _run(with_ed25519)
    assert f"example.com: {ED25519_PENDING}" in output
    assert target.sh(f"test -e {KEY} && echo there || echo none").strip() == "none"
    assert _algorithms(target, "before the Ed25519 key")[0] == [b"rsa-sha256"]


def test_dkim_rotate_makes_it_prints_its_record_and_rsa_signs_alone_until_it_is_served(world):
    target, _env, with_ed25519, zone = world
    output = _run(with_ed25519, "dkim_rotate.py")
    assert "Ed25519, stage 1 of 2: new Ed25519 key dkim-ed25519 generated" in output, output[-3000:]
    assert target.sh(f"stat -c '%U %a' {KEY}").strip() == "_rspamd 600"
    public = dkim.ed25519_public_b64(target.sh(f"cat {KEY}").strip().encode())
    printed = re.search(rf"publish: ({re.escape(RECORD)}\. IN TXT .+)$", output, re.M)
    assert printed and printed.group(1).split(" IN TXT ")[1] == dkimzone.rdata(public, "ed25519")
    assert "example.com signing=dkim ed25519=next" in target.sh(f"cat {layout.DKIM_STATE}")
    assert _algorithms(target, "made, not yet served")[0] == [b"rsa-sha256"]
    waiting = _run(with_ed25519, "dkim_rotate.py")
    assert f"Ed25519, stage 2 of 2: waiting for {RECORD} on every authoritative server" in waiting
    assert "0 of 1 servers" in waiting and _algorithms(target, "still not served")[0] == [b"rsa-sha256"]
    zone.publish(printed.group(1))


def test_once_served_both_signatures_verify_against_what_nsd_serves(world):
    target, env, with_ed25519, zone = world
    output = _run(with_ed25519, "dkim_rotate.py")
    assert "every authoritative server serves dkim-ed25519 (1 of 1 servers" in output, output[-3000:]
    algorithms, raw = _algorithms(target, "signed twice")
    assert algorithms == [b"ed25519-sha256", b"rsa-sha256"]
    asked = []

    def served(name, timeout=5):
        asked.append(name)
        return zone.txt(name, timeout)

    for index in range(2):
        assert dkimpy.DKIM(raw).verify(idx=index, dnsfunc=served), index
    assert sorted(asked) == [f"{RECORD}.".encode(), b"dkim._domainkey.example.com."]
    assert "ed25519" not in target.sh("cat /etc/rspamd/local.d/arc.conf")  # ARC seals once, with RSA
    again = pyinfra(with_ed25519)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []

    _run(env)  # back as the other modules expect: RSA only (the Ed25519 key is kept)
    assert _algorithms(target, "signed once")[0] == [b"rsa-sha256"]
