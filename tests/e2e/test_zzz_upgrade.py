"""rspamd upgraded in place under a deployed configuration, as `dnf upgrade` would move an AlmaLinux
user from 3.x to 4.x: Debian 13's rspamd 3.12 replaced by Debian unstable's 4.1 with apt, then the
deploy rerun. The rerun says what it saw in one line, checks the configuration again and converges;
configtest prints nothing but "syntax OK"; real mail is judged as before; and no DKIM key, map entry,
Bayes token or greylist entry is lost.

Runs last on the Debian 13 sandbox (file order), on a fresh host of its own. Marked `upgrade`: the
Debian unstable run deselects it (its rspamd is the one upgraded to).
"""

from __future__ import annotations

import os
import re

import dnsworld
import pytest
from support import pyinfra, send

from sandbox import probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.upgrade]

KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
REDIS = "redis-cli -s /run/redis/redis.sock"

# Debian unstable's rspamd over Debian 13's, with what it depends on: apt as an admin runs it.
UPGRADE = """
set -e
export DEBIAN_FRONTEND=noninteractive
echo 'deb http://deb.debian.org/debian sid main' > /etc/apt/sources.list.d/upgrade-test-sid.list
echo 'Acquire::Check-Valid-Until "false";' > /etc/apt/apt.conf.d/99upgrade-test-sid
printf 'Package: *\\nPin: release a=unstable\\nPin-Priority: 100\\n' > /etc/apt/preferences.d/upgrade-test-sid
apt-get -q update >/dev/null
apt-get -y -q -t unstable -o Dpkg::Options::=--force-confold install rspamd >/dev/null
"""


def kept_data(host) -> dict:
    """What an upgrade must not lose: the keys, the maps' entries, and Redis's lasting keys."""
    lasting = host.sh(f'for k in $({REDIS} --scan); do [ "$({REDIS} TTL "$k")" -lt 0 ] && echo "$k"; done | sort')
    return {
        "dkim": host.sh(f"sha256sum {KEY}"),
        "maps": host.sh("cat /etc/rspamd/local.d/maps.d/*.map"),
        "redis": set(lasting.split()),
        "greylist": host.sh(f"{REDIS} --scan --pattern 'rg*' | sort"),
    }


def upstream_version(host) -> str:
    """rspamd's version as the deploy says it: without Debian's revision (3.12.1-1 is 3.12.1)."""
    return host.sh("dpkg-query -W -f '${Version}' rspamd").strip().rsplit("-", 1)[0]


@pytest.fixture(scope="module")
def upgraded(target):
    if os.environ.get("MAIL_HOST"):
        pytest.skip("the upgrade test boots its own sandbox")
    _, env = target
    host = dnsworld.fresh_host()
    first = pyinfra(env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    before_version = upstream_version(host)
    # Data an upgrade could lose: a greylist entry (+30: greylisted) and Bayes tokens.
    greylisted = send(host, "spammer@bulk.example.net", body="greylisted before the upgrade")
    assert 400 <= greylisted.code < 500, greylisted
    learned = host.sh(
        "printf 'Subject: cheap pills\\n\\n%s\\n' 'buy cheap pills now from our online pharmacy, the best "
        "offer on cheap pills and discount medication today only, order now and save money fast' | "
        f"rspamc -P {env['RSPAMD_ENABLE_PASSWORD']} learn_spam"
    )
    assert "success = true" in learned.lower() or "learned" in learned.lower(), learned
    before = kept_data(host)
    host.sh(UPGRADE)
    after_version = upstream_version(host)
    assert after_version != before_version and after_version.startswith("4."), (before_version, after_version)
    rerun = pyinfra(env)
    return host, env, before, before_version, after_version, rerun


def test_the_rerun_says_what_it_saw_and_converges(upgraded):
    host, env, _before, before_version, after_version, rerun = upgraded
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-4000:]
    said = re.findall(r"rspamd (\S+) -> (\S+): upgraded since the last run", output)
    assert said == [(before_version, after_version)], said
    assert "rspamd: check the configuration" in output  # checked again on the new rspamd
    again = pyinfra(env)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []


def test_configtest_prints_syntax_ok_and_nothing_else_after_the_upgrade(upgraded):
    host, *_ = upgraded
    assert host.sh("rspamadm configtest 2>&1").strip() == "syntax OK"


def test_real_mail_is_judged_as_before(upgraded):
    host, *_ = upgraded
    gtube = send(host, "sender@outside.example.net", body=probes.GTUBE)
    assert gtube.code == 554, gtube
    virus = send(host, "sender@outside.example.net", body="see attached", attachment=probes.EICAR.encode())
    assert 500 <= virus.code < 600, virus
    tagged = send(
        host, "tagged@mixed.example.net", helo=probes.BAND_HELO, body="maps put this message at +5 plus the usual"
    )
    got = probes.delivered(host, "bob", tagged.token)
    assert got is not None and got.get("X-Spam-Flag") == "YES", tagged
    signed = send(host, "alice@example.com", client_ip=None, body="signed after the upgrade")
    assert b"DKIM-Signature:" in probes.raw_delivered(host, "bob", signed.token)


def test_no_key_map_entry_bayes_token_or_greylist_entry_is_lost(upgraded):
    host, _env, before, *_ = upgraded
    after = kept_data(host)
    assert after["dkim"] == before["dkim"] and after["maps"] == before["maps"]
    assert before["redis"] <= after["redis"], sorted(before["redis"] - after["redis"])
    assert before["greylist"] and after["greylist"] == before["greylist"]
