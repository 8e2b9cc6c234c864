"""Ed25519 beside RSA (RFC 8463), on each release's rspamd: two signatures on one message, each
verifying against the record the deploy printed; then the setting off again, as it was."""

from __future__ import annotations

import re

import dkim as dkimpy
import pytest
from support import pyinfra, send, settings_file

from sandbox import probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]


def _printed_records(output: str) -> dict[bytes, bytes]:
    """Record name -> TXT value, from the deploy's DNS table."""
    found = {}
    for name, rdata in re.findall(r"^(\S+\._domainkey\.example\.com)\s+TXT\s+(.+)$", output, re.M):
        found[f"{name}.".encode()] = "".join(re.findall(r'"([^"]*)"', rdata)).encode()
    return found


def test_mail_carries_an_rsa_and_an_ed25519_signature_that_both_verify(deployed, tmp_path):
    target, env, *_ = deployed
    settings = tmp_path / "settings.toml"
    settings.write_text(settings_file().read_text() + "\ndkim_ed25519 = true\n")
    with_ed25519 = {**env, "MAIL_SETTINGS": str(settings)}
    result = pyinfra(with_ed25519)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    records = _printed_records(output)
    assert records[b"dkim-ed25519._domainkey.example.com."].startswith(b"v=DKIM1; k=ed25519; p=")
    assert target.sh("stat -c '%U %a' /var/lib/rspamd/dkim/example.com.dkim-ed25519.key").strip() == "_rspamd 600"

    sent = send(target, "alice@example.com", client_ip=None, body="signed twice")
    raw = probes.raw_delivered(target, "bob", sent.token)
    header = raw.split(b"\n\n", 1)[0]
    algorithms = sorted(re.findall(rb"(?m)^DKIM-Signature:(?:.|\n[ \t])*?\ba=([a-z0-9-]+);", header))
    assert algorithms == [b"ed25519-sha256", b"rsa-sha256"], header.decode(errors="replace")[:2000]
    asked = []

    def dns(name, timeout=5):
        asked.append(name)
        return records.get(name, b"")

    for index in range(2):
        assert dkimpy.DKIM(raw).verify(idx=index, dnsfunc=dns), index
    assert sorted(asked) == [b"dkim-ed25519._domainkey.example.com.", b"dkim._domainkey.example.com."]
    again = pyinfra(with_ed25519)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []

    off = pyinfra(env)  # back as the other modules expect: RSA only (the Ed25519 key is kept)
    assert off.returncode == 0
    sent = send(target, "alice@example.com", client_ip=None, body="signed once")
    assert probes.raw_delivered(target, "bob", sent.token).count(b"DKIM-Signature:") == 1
