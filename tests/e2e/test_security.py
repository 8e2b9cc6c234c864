"""Mail and service users are hostile (issue #15): each fix proved on the booted host.

Runs on the shared deployed host after test_resilience.py, and leaves it as the first deploy made it.
"""

from __future__ import annotations

import re
from dataclasses import replace

import dnsworld
import pytest
from support import host_platform, pyinfra, send

from mailguard import layout
from sandbox import probes

pytestmark = pytest.mark.e2e
MAPS = "/etc/rspamd/local.d/maps.d"
AS_RSPAMD = "runuser -u _rspamd -- "
BLACKLISTED = "spammer@bulk.example.net"  # +30: above the greylist score (20)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def with_settings(env: dict, tmp_path, extra: str) -> dict:
    from support import settings_file

    path = tmp_path / "settings.toml"
    path.write_text(settings_file().read_text() + "\n" + extra + "\n")
    return {**env, "MAIL_SETTINGS": str(path)}


def canaries(target, paths) -> str:
    """Owner, mode and content hash of each path: what a followed link would change."""
    return target.sh("stat -c '%U %G %a %n' " + " ".join(paths) + " && sha256sum " + " ".join(paths))


def test_links_planted_by_rspamd_in_its_maps_directory_are_never_followed(deployed, tmp_path):
    target, env, *_ = deployed
    canary, beside_canary, restore_canary = "/root/canary-map", "/root/canary-new", "/root/canary-restore"
    secret = "canary-secret-b7f3"
    target.sh(
        f"for f in {canary} {beside_canary} {restore_canary}; do echo {secret} > $f; chmod 600 $f; done"
        f" && mv {MAPS}/whitelist_ip.map /root/whitelist_ip.map.saved"
        f" && {AS_RSPAMD} ln -s {canary} {MAPS}/whitelist_ip.map"
        f" && {AS_RSPAMD} ln -s {beside_canary} {MAPS}/whitelist_sender_domain.map.mailguard-new"
    )
    before = canaries(target, [canary, beside_canary, restore_canary])
    try:
        run = pyinfra(with_settings(env, tmp_path, 'whitelist_sender_domain = ["partner.example.org"]'))
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-3000:]
        said = f"{MAPS}/whitelist_ip.map is a symbolic link, not a file mailguard wrote: left alone, never followed"
        assert output.count(said) == 1
        assert target.sh(f"readlink {MAPS}/whitelist_ip.map").strip() == canary  # left alone
        written = f"{MAPS}/whitelist_sender_domain.map"
        assert target.sh(f"stat -c %F {written} && grep -c partner.example.org {written}").split() == [
            "regular", "file", "1"
        ]  # fmt: skip
        maps = target.sh(f"find {MAPS} -type f -name '*.map' -exec cat {{}} +")
        assert secret not in maps  # nothing read through the link

        # The rollback tool puts a stashed map back over a link planted since, and never writes its target.
        stored = f"{layout.last_good('rspamd')}{written}"
        target.sh(
            f"mkdir -p $(dirname {stored}) && cp -p {written} {stored}"
            f" && {AS_RSPAMD} ln -sf {restore_canary} {written}.mailguard-restore"
            f" && {AS_RSPAMD} ln -sf {restore_canary} {written}.swap && {AS_RSPAMD} mv -fT {written}.swap {written}"
        )
        target.sh(f"{layout.ROLLBACK} rspamd 2>/dev/null")
        assert target.sh(f"stat -c %F {written}").strip() == "regular file"

        # The stash keeps a link as the link it is: what it points to is never read.
        target.sh(f"{layout.STASH} rspamd {MAPS}/whitelist_ip.map")
        kept = f"{layout.last_good('rspamd')}{MAPS}/whitelist_ip.map"
        assert target.sh(f"readlink {kept}").strip() == canary
        assert canaries(target, [canary, beside_canary, restore_canary]) == before
    finally:
        target.sh(
            f"rm -rf {layout.last_good('rspamd')} {MAPS}/*.mailguard-new {MAPS}/*.mailguard-restore"
            f" && sed -i /partner.example.org/d {MAPS}/whitelist_sender_domain.map"
            f" && rm -f {MAPS}/whitelist_ip.map && mv /root/whitelist_ip.map.saved {MAPS}/whitelist_ip.map"
        )
        assert pyinfra(env).returncode == 0


def test_with_redis_down_mail_above_the_greylist_score_is_tagged_not_passed_untagged(deployed):
    target, *_ = deployed
    redis = host_platform(target).redis_unit
    target.sh(f"systemctl stop {redis}")
    try:
        sent = send(target, BLACKLISTED, body="greylisting cannot reach redis")
        assert sent.code == 250, sent  # greylisting needs redis: the message is accepted...
        delivered = probes.delivered(target, "bob", sent.token)
        assert delivered is not None and delivered["X-Spam-Flag"] == "YES"  # ...and tagged (untagged before)
    finally:
        target.sh(f"systemctl start {redis}")


def test_a_private_range_client_with_our_from_is_neither_signed_nor_exempt(deployed):
    target, *_ = deployed
    local_addrs = target.sh("rspamadm configdump options | sed -n '/local_addrs/,/]/p'")
    assert "127.0.0.0/8" in local_addrs and "10.0.0.0/8" not in local_addrs, local_addrs
    sent = send(target, "someone@example.com", client_ip="10.1.2.3", body="from a private range")
    assert sent.code == 250, sent
    delivered = probes.delivered(target, "bob", sent.token)
    assert delivered is not None
    assert delivered["DKIM-Signature"] is None  # signed before: rspamd counted 10.0.0.0/8 as local
    assert delivered["X-Spam-Status"] is not None  # checked and headed like any outside client


def test_submission_defers_while_rspamd_is_down_and_port_25_still_accepts(deployed):
    target, env, *_ = deployed
    target.sh('postconf -M submission/inet="submission inet n - y - - smtpd" && postfix reload')
    try:
        assert pyinfra(env).returncode == 0
        assert target.sh("postconf -P submission/inet/milter_default_action").split("=")[-1].strip() == "tempfail"
        target.sh(f"systemctl stop {host_platform(target).rspamd_unit}")
        submitted = send(replace(target, smtp_port=587), "someone@example.com", body="submitted while rspamd is down")
        assert 400 <= submitted.code < 500, submitted  # accepted unsigned before
        relayed = send(target, "friend@elsewhere.example.net", body="port 25 while rspamd is down")
        assert relayed.code == 250, relayed  # the seed's choice for incoming mail stays
    finally:
        target.sh(f"systemctl start {host_platform(target).rspamd_unit}")
        target.sh("postconf -MX submission/inet && postfix reload")
        target.sh(
            f"for i in $(seq 120); do timeout 1 bash -c '</dev/tcp/127.0.0.1/{layout.MILTER_PORT}' && break;"
            " sleep 1; done"
        )


def test_a_whitelisted_sender_counts_only_when_spf_authenticates_it(deployed):
    target, *_ = deployed
    whitelisted = "tagged@mixed.example.net"  # whitelist_sender_email: -15; SPF permits only SENDING_CLIENT
    genuine = send(target, whitelisted, client_ip=dnsworld.SENDING_CLIENT, body="from the permitted server")
    log = probes.rspamd_log_for(target, genuine.token)
    assert "R_SPF_ALLOW" in log and "WHITELIST_SENDER_EMAIL(" in log  # the composite, -15
    forged = send(target, whitelisted, client_ip="198.18.0.9", body="forged: SPF does not permit this client")
    log = probes.rspamd_log_for(target, forged.token)
    assert "R_SPF_FAIL" in log and "WHITELIST_SENDER_EMAIL(" not in log  # -15 for anyone before


def test_the_one_state_read_answers_every_kind_as_the_host_is(deployed):
    """The read asks each kind once for all its paths (stat, sha256sum, awk, dpkg-query, systemctl
    and postconf each run once): still never through a link, and an absent thing reads as absent."""
    import base64

    from operations import hoststate, readhost

    target, *_ = deployed
    scratch = "/root/state-read"
    target.sh(
        f"rm -rf {scratch} && mkdir {scratch} && ln -s /etc/shadow {scratch}/link && : > {scratch}/empty "
        f"&& printf 'first\\n{layout.MANAGED_MARK}\\nthird {layout.MANAGED_MARK}\\n' > {scratch}/ours "
        f"&& printf 'a\\nb\\n{layout.MANAGED_MARK}\\n' > {scratch}/theirs && chmod 640 {scratch}/ours"
    )
    paths = [f"{scratch}/{name}" for name in ("link", "empty", "ours", "theirs", "missing")]
    wants = [(kind, p) for p in paths for kind in ("stat", "managed")]
    wants += [("deb", "postfix"), ("deb", "no-such-package"), ("unit", "postfix"), ("unit", "no-such-unit")]
    wants += [("unit", "rspamd"), ("postconf", "smtpd_milters"), ("postconf", "no_such_parameter")]
    command, groups = readhost.state_command(wants)
    output = target.sh(command.get_raw_value()).splitlines()
    state = hoststate.Snapshot(readhost.parse_state(readhost.split_profile(output)[1], groups))
    target.sh(f"rm -rf {scratch}")

    link, empty, ours, theirs, missing = (state.stat(p) for p in paths)
    assert link is not None and link["type"] == "symbolic link" and link["sha256"] is None
    assert empty == {"user": "root", "group": "root", "mode": 644, "type": "regular file", "sha256": EMPTY_SHA256}
    assert ours is not None and ours["mode"] == 640 and ours["sha256"] and ours["sha256"] != theirs["sha256"]
    assert missing is None
    assert [state.managed(p) for p in paths] == [False, False, True, False, False]
    assert state.installed("deb", "postfix") and not state.installed("deb", "no-such-package")
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)*", state.package_version("deb", "postfix") or "")
    assert state.unit("postfix")["running"] and state.unit("rspamd")["enabled"]
    assert state.unit("no-such-unit") == {"exists": False, "running": False, "enabled": False, "masked": False}
    assert state.postconf("smtpd_milters") and state.postconf("no_such_parameter") is None
    decoded = b"".join(base64.b64decode(line) for line in output[1:])
    assert b"shadow" not in decoded and b"root:" not in decoded
