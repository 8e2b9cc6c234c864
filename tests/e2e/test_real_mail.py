"""End-to-end: the real `pyinfra` CLI against a booted host, then real mail through it.

Target: the local Debian 12 sandbox (default), or any SSH host given by MAIL_HOST with
MAIL_SSH_PORT/MAIL_SSH_USER/MAIL_SSH_KEY (e.g. the Vagrant AlmaLinux box), whose port 25 is
reachable as MAIL_SMTP_HOST. The tests run in file order: deploy, mail checks, rerun, drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import dkim as dkimpy
import dns.message
import dns.query
import nsd
import pytest
import support
from support import ROOT, TIMINGS, host_platform, pyinfra, send, settings_file

from mailguard.dns_records import RecordInputs, ptr_name
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]


def test_configtest_prints_syntax_ok_and_nothing_else(deployed):
    """rspamd's own defaults warn too (4.1 said its task_timeout was below what its checks may wait
    for): the deploy's options.inc makes configtest clean on every rspamd, with no filter. (The
    sandbox gives rspamd.com's fuzzy servers a loopback address: rspamd 3.x resolves them while it
    loads, and there is no internet here.)"""
    target, *_ = deployed
    assert target.sh("rspamadm configtest 2>&1").strip() == "syntax OK"


def test_gtube_is_rejected_at_smtp(deployed):
    target, *_ = deployed
    sent = send(target, "sender@outside.example.net", body=probes.GTUBE)
    assert sent.code == 554, sent
    assert probes.delivered(target, "bob", sent.token, timeout=3) is None


def test_add_header_band_is_delivered_with_spam_headers(deployed):
    target, *_ = deployed
    sent = send(
        target, "tagged@mixed.example.net", helo=probes.BAND_HELO, body="maps put this message at +5 plus the usual"
    )
    assert sent.accepted, sent
    msg = probes.delivered(target, "bob", sent.token)
    assert msg is not None
    assert msg["X-Spam-Flag"] == "YES"
    assert msg["X-Spam-Level"].startswith("*" * 10)
    assert msg["X-Spam-Status"].startswith("Yes, score=")
    assert "BLACKLIST_SENDER_DOMAIN" in probes.rspamd_log_for(target, sent.token)
    assert msg["Authentication-Results"] and "mail.example.com" in msg["Authentication-Results"]


def test_eicar_is_rejected_and_not_delivered(deployed):
    target, *_ = deployed
    sent = send(target, "sender@outside.example.net", body="attached", attachment=probes.EICAR.encode())
    assert sent.code == 554 and "virus found" in sent.reply, sent
    assert probes.delivered(target, "bob", sent.token, timeout=3) is None


def test_local_mail_is_dkim_signed_and_verifies_against_the_printed_record(deployed):
    target, _env, loaded, output = deployed
    match = re.search(r"^dkim\._domainkey\.example\.com\s+TXT\s+(.+)$", output, re.M)
    assert match, output[-2000:]
    printed = "".join(re.findall(r'"([^"]*)"', match.group(1))).encode()
    sent = send(target, "alice@example.com", client_ip=None, body="hello from alice")
    assert sent.accepted
    assert probes.delivered(target, "bob", sent.token) is not None
    raw = probes.raw_delivered(target, "bob", sent.token)
    assert b"DKIM-Signature:" in raw
    assert dkimpy.verify(raw, dnsfunc=lambda name, timeout=5: printed)


@pytest.fixture(scope="module")
def served_zone(deployed, dns_dir, tmp_path_factory):
    """The zone snippet the deploy wrote, loaded as written into a real NSD, plus the reverse zone."""
    reason = nsd.available()
    if reason:
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    [records_file] = dns_dir.glob("*/records.json")
    expected = RecordInputs.from_json(records_file.read_text())
    domain = expected.domains[0]
    zones = {
        domain: nsd.soa_header(domain, [f"ns1.{domain}"])
        + f"ns1 IN A {nsd.ADDRESS}\n"
        + (records_file.parent / f"{domain}.zone").read_text()
    }
    for address in expected.addresses:
        reverse = ptr_name(address)
        zone = reverse.split(".", 1)[1]
        zones[zone] = nsd.soa_header(zone, [f"ns1.{domain}"]) + f"{reverse}. IN PTR {expected.mail_hostname}.\n"
    server = nsd.Nsd(tmp_path_factory.mktemp("nsd"))
    server.start(zones)
    yield records_file, expected
    server.stop()


def test_written_records_load_into_a_dns_server_and_pass_the_live_check(deployed, served_zone):
    records_file, _ = served_zone
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailguard.dnscheck",
            str(records_file),
            "--resolver",
            nsd.ADDRESS,
            "--port",
            str(nsd.PORT),
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 of 7 records ok" in result.stdout and "forward-confirmed" in result.stdout


def test_dkim_signature_verifies_against_the_record_served_by_dns(deployed, served_zone):
    target, *_ = deployed
    sent = send(target, "alice@example.com", client_ip=None, body="verified against real DNS")
    assert sent.accepted
    assert probes.delivered(target, "bob", sent.token) is not None
    raw = probes.raw_delivered(target, "bob", sent.token)
    asked = []

    def from_nsd(name, timeout=5):
        asked.append(name)
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        response = dns.query.udp(query, nsd.ADDRESS, timeout=timeout, port=nsd.PORT)
        return b"".join(b"".join(rdata.strings) for rrset in response.answer for rdata in rrset)

    assert dkimpy.verify(raw, dnsfunc=from_nsd)
    assert asked == [b"dkim._domainkey.example.com."]


def test_dns_report_changes_nothing_and_runs_the_check(deployed, served_zone, tmp_path):
    _target, env, *_ = deployed
    override = tmp_path / "settings.toml"
    override.write_text(
        settings_file().read_text().replace("dns_check = false", "")
        + f'dns_check = true\ndns_resolver = "{nsd.ADDRESS}"\ndns_port = {nsd.PORT}\n'
    )
    result = pyinfra({**env, "MAIL_SETTINGS": str(override)}, deploy="dns_report.py")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "7 of 7 records ok" in result.stdout, result.stdout[-3000:]
    assert changed_operations(result.stdout + result.stderr) == []


def test_inbound_mail_is_arc_sealed(deployed):
    target, *_ = deployed
    sent = send(target, "friend@elsewhere.example.net", body="inbound, sealed by us")
    assert sent.accepted
    msg = probes.delivered(target, "bob", sent.token)
    assert msg["ARC-Seal"] and msg["ARC-Message-Signature"]
    assert "d=example.com" in msg["ARC-Seal"].replace(" ", "")


def test_every_forged_copy_of_a_spam_or_authentication_header_is_removed(deployed):
    target, *_ = deployed
    msg, token = probes.message("friend@elsewhere.example.net", "bob@example.com", "two forged copies of each")
    for _ in range(2):
        msg["X-Spam-Flag"] = "NO"
        msg["X-Spam-Status"] = "No, score=-100"
        msg["Authentication-Results"] = "mail.example.com; dkim=pass header.d=bank.example"
    sent = probes.send(target, msg, token, client_ip=support.EXTERNAL)
    assert sent.accepted, sent
    delivered = probes.delivered(target, "bob", token)
    assert delivered is not None
    assert delivered.get_all("X-Spam-Flag") is None  # not spam: rspamd adds none, and both forged ones are gone
    statuses = delivered.get_all("X-Spam-Status")  # rspamd's own (extended_spam_headers), once
    assert len(statuses) == 1 and "-100" not in statuses[0], statuses
    results = delivered.get_all("Authentication-Results")
    assert len(results) == 1 and "bank.example" not in results[0], results


def test_redis_listens_on_its_socket_only(deployed):
    target, *_ = deployed
    if os.environ.get("MAIL_HOST"):
        pytest.skip("asked on the sandbox's own network")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", 6379), timeout=5)
    assert target.sh("redis-cli -s /run/redis/redis.sock ping").strip() == "PONG"


def test_blacklisted_sender_is_greylisted(deployed):
    target, *_ = deployed
    sent = send(target, "spammer@bulk.example.net", body="buy now")
    assert 400 <= sent.code < 500, sent


def test_whitelisted_ip_is_accepted_by_the_prefilter(deployed):
    target, *_ = deployed
    sent = send(target, "spammer@bulk.example.net", client_ip="198.51.100.7", body="whitelisted client")
    assert sent.accepted, sent
    assert probes.delivered(target, "bob", sent.token) is not None
    assert "WHITELIST_IP" in probes.rspamd_log_for(target, sent.token)


def test_subdomain_of_blacklisted_parent_is_caught(deployed):
    target, *_ = deployed
    sent = send(target, "x@mail.sub.spamfarm.co.jp", body="from a subdomain")
    log = probes.rspamd_log_for(target, sent.token)
    assert "BLACKLIST_SENDER_DOMAIN_MULTI" in log, log


def test_controller_passwords(deployed):
    target, env, *_ = deployed
    if os.environ.get("MAIL_HOST"):
        pytest.skip("the controller listens on the target's loopback only")
    read_only, enable = env["RSPAMD_CONTROLLER_PASSWORD"], env["RSPAMD_ENABLE_PASSWORD"]
    status, body = support.controller("/stat", read_only)
    assert status == 200 and json.loads(body)["read_only"] is True
    status, body = support.controller("/stat", enable)
    assert status == 200 and json.loads(body)["read_only"] is False
    # Loopback is no longer trusted (secure_ip = []): no password, no answer.
    assert support.controller("/stat", "wrong-password")[0] in (401, 403)
    assert support.controller("/stat", None)[0] in (401, 403)

    # Change a setting as the web UI does: save the blacklist map.
    maps = json.loads(support.controller("/maps", read_only)[1])
    path = "/etc/rspamd/local.d/maps.d/blacklist_sender_email.map"
    [map_id] = [str(m["map"]) for m in maps if m["uri"] == path]
    before = target.sh(f"cat {path}")
    edited = (before + "webui@added.example.net\n").encode()
    assert support.controller("/savemap", read_only, edited, {"Map": map_id})[0] in (401, 403)
    assert target.sh(f"cat {path}") == before
    status, body = support.controller("/savemap", enable, edited, {"Map": map_id})
    assert status == 200, body
    assert target.sh(f"cat {path}") == edited.decode()


def test_second_run_changes_nothing(deployed):
    target, env, *_ = deployed
    started = time.monotonic()
    result = pyinfra(env)
    TIMINGS["no-op rerun"] = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Grand total" in output
    assert changed_operations(output) == []
    if not os.environ.get("MAIL_HOST"):  # the web UI's edit (test_controller_passwords) is kept
        assert "webui@added.example.net" in target.sh("cat /etc/rspamd/local.d/maps.d/blacklist_sender_email.map")


def test_the_plan_is_frozen_before_the_operations_run(deployed):
    """deploy.py freezes its plan for the collector (gc.freeze): Python's exit no longer walks it
    several times (0.08-0.15 s of a no-op rerun on the sandbox)."""
    _, env, *_ = deployed
    result = pyinfra(env, "tests/e2e/frozen_probe.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and changed_operations(output) == [], output[-2000:]
    frozen, loose = map(int, re.search(r"mailguard probe: (\d+) objects frozen, (\d+) not", output).groups())
    assert frozen > 10 * loose, (frozen, loose)


@pytest.mark.parametrize("flags", [["-v"], ["-vv"], ["-vvv"], ["--dry"], ["--diff"], ["--debug"]], ids=lambda f: f[0])
def test_no_secret_in_output(deployed, flags):
    target, env, loaded, _ = deployed
    result = pyinfra(env, *flags)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    for secret in (env["RSPAMD_CONTROLLER_PASSWORD"], env["RSPAMD_ENABLE_PASSWORD"]):
        assert secret not in output
    # The stored hashes are secrets too (-vvv prints what facts read): their keys never show.
    stored = re.findall(r'"(\$1\$([^$"]+)\$([^"]+))"', target.sh("cat /etc/rspamd/local.d/worker-controller.inc"))
    assert len(stored) == 2
    for whole, salt, hashed_key in stored:
        assert hashed_key not in output
        # nor a salt with a digest of the hash: together they check a password as the hash would
        assert salt not in output and hashlib.sha256(whole.encode()).hexdigest() not in output
    key = target.sh("cat /var/lib/rspamd/dkim/example.com.dkim.key")
    body = "".join(key.splitlines()[1:-1])
    public = probes.dkim_public_key(target, "/var/lib/rspamd/dkim/example.com.dkim.key")
    # The PEM also holds the public modulus, which the DNS report prints on purpose.
    chunks = [body[i : i + 24] for i in range(0, len(body) - 24, 24)]
    private_chunks = [c for c in chunks if c not in public]
    assert len(private_chunks) > len(chunks) // 2
    for chunk in private_chunks:
        assert chunk not in output


def test_key_files_are_private(deployed):
    target, *_ = deployed
    listing = target.sh("stat -c '%U %G %a' /var/lib/rspamd/dkim/example.com.dkim.key /var/lib/rspamd/dkim").split("\n")
    assert listing[0] == "_rspamd _rspamd 600"
    assert listing[1] == "_rspamd _rspamd 750"


def test_diff_shows_what_a_rerun_would_put_back(deployed):
    target, env, *_ = deployed
    conf = "/etc/rspamd/override.d/actions.conf"
    target.sh(f"sed -i 's/^add_header = .*/add_header = 12.0;/' {conf}")
    command = [str(Path(sys.executable).parent / "pyinfra"), "inventory.py", "deploy.py", "--diff", "--dry"]
    preview = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = preview.stdout + preview.stderr
    assert f"Will modify {conf}" in output, output[-3000:]
    assert "- add_header = 12.0;" in output and "+ add_header = 10.0;" in output
    assert "add_header = 12.0;" in target.sh(f"cat {conf}")  # --dry changed nothing
    assert pyinfra(env).returncode == 0
    assert "add_header = 10.0;" in target.sh(f"cat {conf}")


def test_drift_is_converged_and_hand_added_map_entries_survive(deployed):
    target, env, *_ = deployed
    key_before = target.sh("sha256sum /var/lib/rspamd/dkim/example.com.dkim.key")
    platform = host_platform(target)
    conf, group = platform.clamd_conf, platform.clamd_socket_group
    target.sh(
        f"sed -i 's/^LocalSocketMode .*/LocalSocketMode 666/' {conf}; "
        "rm /etc/rspamd/local.d/milter_headers.conf; "
        f"gpasswd -d _rspamd {group} >/dev/null; "
        "postconf -e milter_default_action=tempfail; "
        "echo handadded@web.example.net >> /etc/rspamd/local.d/maps.d/blacklist_sender_email.map; "
        "systemctl stop rspamd"
    )
    result = pyinfra(env)
    assert result.returncode == 0, result.stdout[-3000:]
    changed = changed_operations(result.stdout + result.stderr)
    assert any("milter_headers.conf" in name for name in changed)
    assert target.sh(f"grep '^LocalSocketMode' {conf}").strip() == "LocalSocketMode 660"
    assert group in target.sh("id -Gn _rspamd").split()
    assert target.sh("postconf -h milter_default_action").strip() == "accept"
    assert target.sh("systemctl is-active rspamd").strip() == "active"
    assert "handadded@web.example.net" in target.sh("cat /etc/rspamd/local.d/maps.d/blacklist_sender_email.map")
    assert target.sh("sha256sum /var/lib/rspamd/dkim/example.com.dkim.key") == key_before
    test_gtube_is_rejected_at_smtp(deployed)
    test_eicar_is_rejected_and_not_delivered(deployed)
    test_local_mail_is_dkim_signed_and_verifies_against_the_printed_record(deployed)
    rerun = pyinfra(env)
    assert changed_operations(rerun.stdout + rerun.stderr) == []


def test_a_no_op_rerun_asks_the_host_two_commands_then_one_once_its_reads_are_remembered(deployed, tmp_path):
    """As the bench counts them: the system profile and the state read; then, with the last run's
    questions kept on this controller, the two in one command."""
    target, env, *_ = deployed
    env = {**env, "MAILGUARD_CACHE_DIR": str(tmp_path)}  # nothing remembered yet
    counts = []
    for _ in range(2):
        debug = pyinfra(env, "--debug")
        output = debug.stdout + debug.stderr
        assert debug.returncode == 0 and changed_operations(output) == [], output[-3000:]
        counts.append(output.count("Command exit status:"))
    assert counts == [2, 1]
    commands = counts[-1]
    TIMINGS["no-op rerun remote commands"] = commands
    memory = target.sh("ps -C rspamd,clamd,redis-server,redis -o rss=,comm= | sort -k2").strip()
    print(f"\ntimings: {TIMINGS}\nRSS (KiB) after the deploy:\n{memory}")
