"""rspamd's own resolver on the booted host (#16): blocklists answer through it, the system's
resolver is untouched, and the deploy's report says how each list answers."""

from __future__ import annotations

import re
import subprocess

import dnsworld
import nsd
import pytest
from support import pyinfra, send, settings_file

from mailguard import layout
from sandbox import probes

pytestmark = pytest.mark.e2e
REFUSING_ADDRESS = "127.0.53.41"  # a second NSD: zen.spamhaus.org answering as to a refused resolver


def test_the_first_run_reports_every_blocklist_answering_through_rspamds_resolver(deployed):
    *_, output = deployed
    assert f"through rspamd's resolver ({layout.RESOLVER_ADDRESS}, unbound for rspamd)" in output
    assert "6 of 6 lists answer" in output


def test_rspamd_scores_a_listed_client_through_its_own_resolver(deployed):
    target, *_ = deployed
    sent = send(target, "someone@elsewhere.example.net", client_ip=dnsworld.LISTED_CLIENT, body="from a listed client")
    assert "RBL_SPAMHAUS" in probes.rspamd_log_for(target, sent.token)  # no DNS at all before


def test_a_list_answering_as_to_a_refused_resolver_fires_no_listing_symbol(deployed):
    """127.255.255.254 is Spamhaus's "this resolver may not ask", not a listing: rspamd must not
    score the client as listed (it did score 127.0.0.2 above, through the same zone)."""
    target, *_ = deployed
    sent = send(target, "someone@elsewhere.example.net", client_ip=dnsworld.REFUSED_CLIENT, body="refused answer")
    log = probes.rspamd_log_for(target, sent.token)
    assert sent.code == 250 and log, sent
    listed = [s for s in re.findall(r"\b(RBL_SPAMHAUS\w*|RECEIVED_SPAMHAUS\w*)\(([-0-9.]+)\)", log) if float(s[1]) > 0]
    assert listed == [], listed


def test_unbound_serves_rspamd_alone_and_the_system_resolver_is_untouched(deployed):
    target, *_ = deployed
    # The sandbox shares this machine's network: its sockets show here (the host has no ss).
    sockets = subprocess.run(["ss", "-H", "-lnup"], capture_output=True, text=True, check=True).stdout
    listening = sorted({line.split()[3] for line in sockets.splitlines() if '"unbound"' in line})
    assert listening == [f"{layout.RESOLVER_ADDRESS}:{layout.RESOLVER_PORT}"]
    assert layout.RESOLVER_ADDRESS not in target.sh("cat /etc/resolv.conf")
    assert target.sh("systemctl show -p LoadState --value unbound-resolvconf.service").strip() == "masked"


def test_a_dqs_key_reaches_rspamd_alone_and_never_the_output(deployed):
    target, env, *_ = deployed
    key = "k7q2m9x4w1c8v5b3n6z0p2r4t8"  # a made-up key of the right shape
    try:
        run = pyinfra({**env, "SPAMHAUS_DQS_KEY": key}, "-vvv")
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-3000:]
        assert key not in output  # not at -vvv, not in the blocklist check that used it on the host
        assert "2.0.0.127.<key>.zen.dq.spamhaus.net" in output
        conf = "/etc/rspamd/local.d/rbl.conf"
        assert target.sh(f"stat -c '%U %G %a' {conf}").split() == ["root", "_rspamd", "640"]
        assert f"{key}.zen.dq.spamhaus.net" in target.sh(f"cat {conf}")
    finally:
        assert pyinfra(env).returncode == 0


def test_resolver_system_is_planned_and_run_then_local_again(deployed, tmp_path):
    """resolver = "system": rspamd asks /etc/resolv.conf's resolvers (its dns {} block goes), the
    blocklist check says so; then back to its own unbound, with nothing left over."""
    target, env, *_ = deployed
    settings = tmp_path / "system.toml"
    settings.write_text(settings_file().read_text() + '\nresolver = "system"\n')
    try:
        run = pyinfra({**env, "MAIL_SETTINGS": str(settings)})
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-3000:]
        options = target.sh("cat /etc/rspamd/override.d/options.inc")
        assert "dns {" not in options and layout.RESOLVER_ADDRESS not in options
        assert ", the system)" in output  # the blocklist check asked through the system's resolver
        assert target.sh("rspamadm configtest 2>&1").strip().endswith("syntax OK")
    finally:
        back = pyinfra(env)
        assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
    assert f"{layout.RESOLVER_ADDRESS}:{layout.RESOLVER_PORT}" in target.sh("cat /etc/rspamd/override.d/options.inc")


def test_the_report_says_blocked_when_a_list_answers_as_to_a_refused_resolver(deployed, tmp_path):
    """zen.spamhaus.org answering its test point with 127.255.255.254 (a public resolver's
    answer), from a second NSD that the host's unbound is pointed at for that zone alone."""
    target, env, *_ = deployed
    refusing = nsd.Nsd(tmp_path / "refusing", address=REFUSING_ADDRESS)
    zones = dnsworld.zones(REFUSING_ADDRESS)
    refusing.start({"zen.spamhaus.org": zones["zen.spamhaus.org"].replace("IN A 127.0.0.2", "IN A 127.255.255.254")})
    stubs = dnsworld.unbound_stubs()
    pointed = stubs.replace(
        f'name: "zen.spamhaus.org"\n    stub-addr: {dnsworld.ADDRESS}@{nsd.PORT}',
        f'name: "zen.spamhaus.org"\n    stub-addr: {REFUSING_ADDRESS}@{nsd.PORT}',
    )
    assert pointed != stubs
    try:
        target.sh(f"cat > {dnsworld.STUB_CONF} <<'EOF'\n{pointed}EOF\nsystemctl restart unbound")
        report = pyinfra(env, deploy="dns_report.py")
        output = report.stdout + report.stderr
        assert report.returncode == 0, output[-3000:]
        assert re.search(r"blocked \(resolver refused\)\s+zen\.spamhaus\.org", output), output[-3000:]
        assert "5 of 6 lists answer" in output
    finally:
        target.sh(f"cat > {dnsworld.STUB_CONF} <<'EOF'\n{stubs}EOF\nsystemctl restart unbound")
        refusing.stop()
