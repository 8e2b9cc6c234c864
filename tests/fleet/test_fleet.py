"""A group of three MX hosts in one inventory, deployed in parallel (issue #19): one DKIM key,
one Redis primary with a replica on every other host, greylisting and Bayes shared, every web UI
listing the group, and mail still scanned while the primary's Redis is down."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import time

import dkim as dkimpy
import pytest
from support import EXTERNAL, FLEET_GREYLIST_SECONDS, TIMINGS, pyinfra, replication, wait_for_replicas

from mailguard import dkim, group_tls, layout, redis_acl, sentinel
from mailguard.settings import PASSWORD_ENV
from sandbox import fleet as fleet_sandbox
from sandbox import probes

pytestmark = pytest.mark.e2e

KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
REDIS = f"{probes.REDIS_CLI} -s /run/redis/redis.sock"
PRIMARY = fleet_sandbox.address(1)  # the group's Redis primary, mx1, until the failover test
PRIMARY_LOOPBACK = sentinel.loopback(PRIMARY)  # where every host reaches it (mailguard/sentinel.py)
BLACKLISTED = "spammer@bulk.example.net"  # +30: greylisted (reject is off, as in the seed)


def _learned_spam(target) -> int:
    out = target.sh(f'for key in $({REDIS} SMEMBERS BAYES_SPAM_keys); do {REDIS} HGET "$key" learns_spam; done')
    return sum(int(n) for n in out.split() if n.isdigit())


def _private_parts(target) -> list[str]:
    """Pieces of the DKIM key file's base64 that are not in the public key's (the PEM holds the
    public modulus too, which the DNS report prints, and base64 may line up on it)."""
    body = "".join(target.sh(f"cat {KEY}").splitlines()[1:-1])
    public = probes.dkim_public_key(target, KEY)
    parts = [body[i : i + 40] for i in range(0, len(body) - 40, 40)]
    return [part for part in parts if part not in public]


def _neighbours(target, password: str) -> str:
    """rspamd's /neighbours, asked of the host's own controller."""
    return target.sh(
        "python3 -c " + shlex.quote(
            "import urllib.request, sys; r = urllib.request.Request('http://127.0.0.1:11334/neighbours', "
            "headers={'Password': sys.argv[1]}); print(urllib.request.urlopen(r).read().decode())"
        ) + " " + shlex.quote(password)
    )  # fmt: skip


def test_every_mx_signs_with_the_one_key_of_the_group(deployed_fleet):
    targets, *_ = deployed_fleet
    public_keys = {probes.dkim_public_key(t, KEY) for t in targets}
    assert len(public_keys) == 1 and "" not in public_keys
    record = dkim.txt_value(public_keys.pop()).encode()
    for target in targets:
        msg, token = probes.message("alice@example.com", "bob@example.com", "Signed by whichever MX sends it.")
        sent = probes.send(target, msg, token, client_ip="127.0.0.1")  # a local sender: signed
        assert sent.accepted, sent
        assert probes.delivered(target, "bob", token) is not None
        raw = probes.raw_delivered(target, "bob", token)
        assert dkimpy.verify(raw, dnsfunc=lambda name, timeout=5: record), target.smtp_host


def test_the_first_run_prints_no_secret(deployed_fleet):
    targets, env, output = deployed_fleet
    secrets = _private_parts(targets[0])
    secrets += [env["REDIS_REPLICATION_PASSWORD"], env[PASSWORD_ENV], env["RSPAMD_ENABLE_PASSWORD"]]
    # what is derived from the group's secret: each Redis user's password, the tunnel's key
    secret = env["REDIS_REPLICATION_PASSWORD"]
    secrets += [redis_acl.password(secret, user) for user in [*redis_acl.RIGHTS, sentinel.PEER]]
    secrets += group_tls.key_pem(secret).decode().splitlines()[1:-1]
    assert "Redis: users and replication" in output  # -vvv's output, as the operations ran
    assert not [s for s in secrets if s in output]


def test_a_sender_greylisted_on_one_mx_is_let_through_by_another_after_the_delay(deployed_fleet):
    (first, second, _), *_ = deployed_fleet
    msg, token = probes.message(BLACKLISTED, "bob@example.com", "Retried by its server through the backup MX.")
    sent = probes.send(first, msg, token, client_ip=EXTERNAL)
    assert 400 <= sent.code < 500, sent  # greylisted where it first came
    time.sleep(FLEET_GREYLIST_SECONDS + 2)
    retried = probes.send(second, msg, token, client_ip=EXTERNAL)
    assert retried.accepted, retried  # the other MX knows it from the primary's Redis, through its replica
    got = probes.delivered(second, "bob", token)
    assert got is not None and got.get("X-Spam-Flag") == "YES"


def test_a_message_learned_on_one_host_is_counted_on_every_host(deployed_fleet):
    targets, *_ = deployed_fleet
    before = [_learned_spam(t) for t in targets]
    msg, token = probes.message("bulk@outside.example.net", "bob@example.com", " ".join(["cheap offer now"] * 40))
    said = targets[1].sh(
        f"printf %s {shlex.quote(msg.as_string())} | rspamc -h {layout.LEARN_SOCKET} learn_spam"
    )  # on a replica: rspamd writes to the primary
    assert "success = true" in said, said
    deadline = time.monotonic() + 15
    while [_learned_spam(t) for t in targets] != [n + 1 for n in before] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [_learned_spam(t) for t in targets] == [n + 1 for n in before]


def test_the_sentinels_name_mx1_the_primary_and_the_run_said_so(deployed_fleet):
    targets, _, output = deployed_fleet
    for target in targets:
        here = sentinel.loopback(target.smtp_host)
        answer = target.sh(f"{layout.PRIMARY_HERE} {here} {sentinel.PORT} {sentinel.MASTER} && echo here", check=False)
        assert ("here" in answer) == (target is targets[0]), target.smtp_host
        named = target.sh(
            f"redis-cli --raw -h {here} -p {sentinel.PORT} SENTINEL get-master-addr-by-name {sentinel.MASTER}"
        )
        assert named.split() == [PRIMARY_LOOPBACK, "6379"], target.smtp_host
        # anyone may ask a sentinel where the primary is, and nothing more
        refused = target.sh(
            f"redis-cli -h {here} -p {sentinel.PORT} SENTINEL FAILOVER {sentinel.MASTER} 2>&1", check=False
        )
        assert "NOPERM" in refused, refused
    for n in (1, 2, 3):
        assert f"mx{n}: the group's Redis primary is {PRIMARY} (redis_primary: no sentinel answered yet)" in output
    assert "Sentinel: the starting configuration (quorum 2 of 3)" in output


def test_each_web_ui_lists_the_whole_group(deployed_fleet):
    targets, env, _ = deployed_fleet
    for target in targets:
        neighbours = json.loads(_neighbours(target, env[PASSWORD_ENV]))
        assert sorted(neighbours) == ["mx1.example.com", "mx2.example.com", "mx3.example.com"]
        # over HTTPS only: the admin's browser calls each with the web UI password
        assert neighbours["mx2.example.com"]["url"] == "https://mx2.example.com:443/rspamd/"


# When this host's hold on mail was released, in its monotonic clock: main.cf's last change is
# mailguard-hold-mail's "off" (milter_default_action back to accept), once rspamd answered again.
RELEASED = (
    "python3 -c 'import os, time; print(os.stat(\"/etc/postfix/main.cf\").st_mtime - time.time() + time.monotonic())'"
)


def test_restarts_rolled_each_host_after_the_one_before_answered_again(deployed_fleet):
    """By the order of events: each host's rspamd restart began after the host before it had
    answered again and released its hold on mail."""
    targets, *_ = deployed_fleet
    # The containers share this machine's kernel, so their monotonic clocks are one clock.
    events = sorted(
        (
            int(t.sh("systemctl show -p ExecMainStartTimestampMonotonic --value rspamd").strip()) / 1e6,
            float(t.sh(RELEASED).strip()),
            t.smtp_host,
        )
        for t in targets
    )
    for started, released, host in events:
        assert released > started, (host, started, released)  # each released its hold after its own restart
    for (_, released, host), (started, _, after) in zip(events, events[1:], strict=False):
        assert started > released, (host, released, after, started)


def test_a_host_that_joins_later_gets_the_group_s_key_carried_and_never_printed(deployed_fleet):
    targets, env, _ = deployed_fleet
    held = targets[0].sh(f"cat {KEY}")
    targets[2].sh(f"mv {KEY} /root/mx3-key-before")  # mx3 as a new host without the key
    try:
        result = pyinfra(env, "-vvv")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert targets[2].sh(f"cat {KEY}") == held
        assert targets[2].sh(f"stat -c '%U:%G %a' {KEY}").strip() == "_rspamd:_rspamd 600"
        secrets = [*_private_parts(targets[0]), env["REDIS_REPLICATION_PASSWORD"]]
        assert not [s for s in secrets if s in output]
    finally:
        targets[2].sh("rm -f /root/mx3-key-before")


def _reaches_the_primary_s_redis(target) -> bool:
    """Whether ``target`` opens a TCP connection to the primary's Redis port (nothing is sent)."""
    answer = target.sh(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{PRIMARY}/6379' 2>/dev/null && echo open || true")
    return answer.strip() == "open"


def _controller_reaches_the_primary_s_redis() -> bool:
    try:
        socket.create_connection((PRIMARY, 6379), timeout=5).close()
    except OSError:
        return False
    return True


def test_no_redis_user_of_the_group_may_reconfigure_the_primary(deployed_fleet):
    """With rspamd's credentials (they are on every host), or the deploy's own, over the network:
    data commands yes, CONFIG no; Redis's default user is off (rspamd logs in by name)."""
    targets, env, _ = deployed_fleet
    replica = targets[1]
    rspamd_password = replica.sh("sed -n 's/^password = \"\\(.*\\)\";$/\\1/p' /etc/rspamd/local.d/redis.conf").strip()
    assert rspamd_password and env["REDIS_REPLICATION_PASSWORD"] not in replica.sh("cat /etc/rspamd/local.d/redis.conf")

    def ask(user: str, password: str, *command: str) -> str:  # the primary, through the replica's tunnel
        login = f"--user {user} " if user else ""
        cli = f"redis-cli --no-auth-warning -h {PRIMARY_LOOPBACK} -p 6379 {login}{' '.join(command)}"
        return replica.sh(f"REDISCLI_AUTH={shlex.quote(password)} {cli} 2>&1").strip()

    assert ask(redis_acl.RSPAMD, rspamd_password, "PING") == "PONG"
    assert "NOPERM" in ask(redis_acl.RSPAMD, rspamd_password, "CONFIG", "GET", "dir")
    assert "NOPERM" in ask(redis_acl.RSPAMD, rspamd_password, "MODULE", "LIST")
    admin_user, admin_password = replica.sh(f"cat {layout.REDIS_CLIENT_AUTH}").split()
    assert "NOPERM" in ask(admin_user, admin_password, "CONFIG", "GET", "dir")
    # the sentinels' user (its password is in each host's sentinel configuration): REPLICAOF and a
    # CONFIG REWRITE that fails on the read-only redis.conf, no CONFIG GET or SET
    sentinels = redis_acl.password(env["REDIS_REPLICATION_PASSWORD"], redis_acl.SENTINEL)
    assert "NOPERM" in ask(redis_acl.SENTINEL, sentinels, "CONFIG", "GET", "dir")
    assert "NOPERM" in ask(redis_acl.SENTINEL, sentinels, "CONFIG", "SET", "dir", "/tmp")
    assert "ERR" in ask(redis_acl.SENTINEL, sentinels, "CONFIG", "REWRITE")
    assert "PONG" not in ask("", rspamd_password, "PING")  # no default user to log in as
    assert "PONG" not in ask("", env["REDIS_REPLICATION_PASSWORD"], "PING")  # the group's secret is no password


def test_the_group_s_redis_port_speaks_only_tls_with_the_group_s_certificate(deployed_fleet):
    """Plain Redis to the primary's port gets no Redis answer; neither does TLS without the
    group's certificate: only the group's tunnel reaches Redis."""
    targets, *_ = deployed_fleet
    replica = targets[1]
    plain = replica.sh(f"timeout 10 redis-cli -h {PRIMARY} -p 6379 PING 2>&1 || true")
    assert "PONG" not in plain and "NOAUTH" not in plain, plain
    stranger = replica.sh(
        "cd /tmp && openssl req -x509 -newkey ed25519 -nodes -keyout s.key -out s.crt -subj /CN=stranger -days 1 "
        f"2>/dev/null && printf 'PING\\r\\n' | timeout 10 openssl s_client -quiet -connect {PRIMARY}:6379 "
        "-cert s.crt -key s.key 2>&1 || true"
    )
    assert "PONG" not in stranger and "NOAUTH" not in stranger, stranger


def test_nothing_of_the_group_s_redis_traffic_is_in_cleartext_on_the_wire(deployed_fleet, tmp_path):
    """A capture on the group's network while a greylisted message is recorded from one MX and a
    message is learned on another, both written to the primary and replicated to every host."""
    targets, env, _ = deployed_fleet
    capture = tmp_path / "group.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", fleet_sandbox.BRIDGE, "-U", "-s", "0", "-w", str(capture), "tcp port 6379 or tcp port 26379"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while (not capture.exists() or capture.stat().st_size < 24) and time.monotonic() < deadline:
        time.sleep(0.1)  # tcpdump writes the file's header once it captures
    text = "Unmistakable words of a message nobody should read on the wire"
    try:
        msg, token = probes.message(BLACKLISTED, "bob@example.com", text)
        # greylisted on mx2: from a network greylisting has not let through before (it keys on the
        # client's /19, and the earlier test's client passed)
        assert 400 <= probes.send(targets[1], msg, token, client_ip="198.51.100.200").code < 500
        before = [_learned_spam(t) for t in targets]
        learned, _ = probes.message("bulk@outside.example.net", "bob@example.com", f"{text} " * 30)
        said = targets[2].sh(
            f"printf %s {shlex.quote(learned.as_string())} | rspamc -h {layout.LEARN_SOCKET} learn_spam"
        )
        assert "success = true" in said, said
        while [_learned_spam(t) for t in targets] != [n + 1 for n in before] and time.monotonic() < deadline + 20:
            time.sleep(0.5)  # learned on mx3, written to mx1, replicated to mx2 and mx3
    finally:
        dump.terminate()
        dump.wait()
    wire = capture.read_bytes()
    assert len(wire) > 4000, len(wire)  # the traffic was there
    secret = env["REDIS_REPLICATION_PASSWORD"]
    clear = [secret, *(redis_acl.password(secret, user) for user in [*redis_acl.RIGHTS, sentinel.PEER]), token, text]
    clear += ["BAYES_SPAM", "learns_spam", "PSYNC", "AUTH", "mailguard-rspamd"]
    assert [word for word in clear if word.encode() in wire] == []


def test_a_rerun_changes_nothing_on_any_host(deployed_fleet):
    _, env, _ = deployed_fleet
    started = time.monotonic()
    result = pyinfra(env)
    TIMINGS["fleet no-op rerun (3 hosts)"] = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # pyinfra's results: every operation on every host, none with a change ("-") or an error
    total = re.search(r"^\s+Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", output, re.M)
    assert total, output[-3000:]
    operations, changed, errors, unchanged = total.groups()
    assert (changed, errors) == ("-", "-") and unchanged == operations, output[-6000:]
    assert int(operations) % 3 == 0  # the same operations on the three hosts
    print(f"\ntimings: {TIMINGS}")


def test_the_primary_lost_a_replica_is_promoted_and_the_group_writes_again(deployed_fleet):
    """mx1, the primary, lost without a goodbye: mail is still accepted and scanned on the others
    at once; the sentinels promote a replica; a sender greylisted before the loss passes on another
    MX (its record read there), and a message learned during the outage is counted on the new
    primary. mx1 back: the sentinels make it a replica of the new primary, and a rerun changes
    nothing and names the new primary."""
    targets, env, _ = deployed_fleet
    mx1, mx2, mx3 = targets
    msg, token = probes.message(BLACKLISTED, "bob@example.com", "Retried through another MX after the loss.")
    assert 400 <= probes.send(mx2, msg, token, client_ip="198.51.100.90").code < 500  # recorded on mx1
    greylisted = time.monotonic()
    learned, _ = probes.message("bulk@outside.example.net", "bob@example.com", " ".join(["lost primary offer"] * 40))
    before = _learned_spam(mx3)
    fleet_sandbox.lose(1)
    lost = time.monotonic()
    for target in (mx2, mx3):
        plain, plain_token = probes.message("someone@outside.example.net", "bob@example.com", "While mx1 is lost.")
        sent = probes.send(target, plain, plain_token, client_ip=EXTERNAL)
        assert sent.accepted, (target.smtp_host, sent)
        got = probes.delivered(target, "bob", plain_token)
        assert got is not None and got.get("Authentication-Results"), target.smtp_host  # scanned by rspamd
    passed = learned_after = None
    while (passed is None or learned_after is None) and time.monotonic() - lost < 120:
        if passed is None and time.monotonic() - greylisted > FLEET_GREYLIST_SECONDS + 1:
            retried = probes.send(mx3, msg, token, client_ip="198.51.100.90")
            # passed on its record, read on mx3 (while a read fails, greylisting decides nothing and
            # the message is let through tagged: that is mail flowing, not the record found)
            if retried.accepted and "GREYLIST(0.00){pass" in probes.rspamd_log_for(mx3, token):
                passed = time.monotonic() - lost
        if learned_after is None:
            said = mx3.sh(
                f"printf %s {shlex.quote(learned.as_string())} | rspamc -h {layout.LEARN_SOCKET} learn_spam 2>&1",
                check=False,
            )
            if "success = true" in said:
                learned_after = time.monotonic() - lost
        time.sleep(1)
    promoted = [t for t in (mx2, mx3) if replication(t).get("role") == "master"]
    TIMINGS["failover: greylisted sender passed on another MX"] = passed or -1
    TIMINGS["failover: a learn counted on the new primary"] = learned_after or -1
    print(f"\nfailover timings: {TIMINGS}")
    assert passed is not None and learned_after is not None, (passed, learned_after)
    assert len(promoted) == 1, [replication(t) for t in (mx2, mx3)]
    new = promoted[0]
    deadline = time.monotonic() + 15
    while [_learned_spam(t) for t in (mx2, mx3)] != [before + 1] * 2 and time.monotonic() < deadline:
        time.sleep(0.5)  # learned on the new primary, replicated to the other
    assert [_learned_spam(t) for t in (mx2, mx3)] == [before + 1] * 2

    fleet_sandbox.bring_back(1)
    number = targets.index(new) + 1
    assert wait_for_replicas(targets, primary=number, within=90), [replication(t) for t in targets]
    assert _learned_spam(mx1) == before + 1  # it took the new primary's data: no fight
    result = pyinfra(env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"mx1: the group's Redis primary is {new.smtp_host} (its sentinel's answer)" in output
    total = re.search(r"^\s+Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", output, re.M)
    assert total and total.group(2) == "-" and total.group(3) == "-", output[-6000:]


def test_the_group_s_redis_port_admits_the_group_s_hosts_only(deployed_fleet, tmp_path):
    """The fence: this machine, on the group's network but not of the group, is turned away; a host
    the group no longer lists is too, once the deploy has run; the admin's own nftables rules stay."""
    targets, env, _ = deployed_fleet
    primary = targets[0]
    assert not _controller_reaches_the_primary_s_redis()
    assert all(_reaches_the_primary_s_redis(t) for t in targets[1:])
    admins = "table inet admins_rules {\n chain input {\n type filter hook input priority 0; policy accept;\n"
    admins += " tcp dport 9999 drop\n }\n}\n"
    primary.sh(f"printf '%s' {shlex.quote(admins)} | nft -f -")
    inventory = tmp_path / "inventory.toml"
    with open(env["MAIL_INVENTORY"]) as grouped:
        inventory.write_text(grouped.read().split('[hosts."mx3"]')[0])  # the group without mx3
    try:
        result = pyinfra({**env, "MAIL_INVENTORY": str(inventory)}, "--limit", "mx1")
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert "Fence: Redis port 6379 for 10.77.0.11, 10.77.0.12 only" in result.stdout + result.stderr
        assert _reaches_the_primary_s_redis(targets[1]) and not _reaches_the_primary_s_redis(targets[2])
        assert "tcp dport 9999 drop" in primary.sh("nft list table inet admins_rules")
    finally:
        again = pyinfra(env, "--limit", "mx1")
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert _reaches_the_primary_s_redis(targets[2])
    primary.sh("nft delete table inet admins_rules")


def test_without_a_web_ui_proxy_no_host_lists_the_others(deployed_fleet, tmp_path):
    """Last: the group with its web UIs on loopback only (no proxy publishes them): no host writes
    a neighbours block pointing at web UIs that cannot be reached, and none lists another."""
    targets, env, _ = deployed_fleet
    inventory = tmp_path / "inventory.toml"
    with open(env["MAIL_INVENTORY"]) as grouped:
        inventory.write_text(grouped.read().replace('webui_proxy = "nginx"\n', ""))
    result = pyinfra({**env, "MAIL_INVENTORY": str(inventory)})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for target in targets:
        assert "neighbours" not in target.sh("cat /etc/rspamd/override.d/options.inc")
        answer = _neighbours(target, env[PASSWORD_ENV])
        assert json.loads(answer) == {}, (target.smtp_host, answer)  # rspamd's answer with no neighbours
