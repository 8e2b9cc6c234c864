"""A server set up by hand as the seed says, then taken over by the deploy: nothing is lost.

Runs last (file order): it boots a fresh sandbox, follows the seed's commands by hand (the
wizard's key, the maps in local.d/ with entries, hand-written thresholds, `rspamadm pw` hashes),
with a real OpenDKIM as a second milter signing a second domain from its KeyTable and
SigningTable, then runs the real deploy over it and sends real mail.
"""

from __future__ import annotations

import os
import re

import dkim as dkimpy
import dnsworld
import pytest
from support import pyinfra, send, settings_file

from mailguard.layout import original
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = pytest.mark.e2e

KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
SECOND_MILTER = "inet:localhost:8891"  # where OpenDKIM listens: kept, and named as redundant
OPENDKIM_KEY = "/etc/opendkim/keys/example.org/mail.private"
MILTERS = f"{SECOND_MILTER}, inet:localhost:11332"
HAND_BLACKLIST = "# added by hand, as the seed says\nhandmade@spam.example.net\n"
HAND_ACTIONS = "reject = null;\nadd_header = 8;\ngreylist = 15;\n"

# The seed's part 9, by hand (the packages come from Debian, as in the sandbox's settings).
SEED_BY_HAND = f"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get -q update >/dev/null
apt-get -y -q install --no-install-recommends rspamd redis-server >/dev/null
mkdir -p /var/lib/rspamd/dkim
rspamadm dkim_keygen -s dkim -d example.com -b 2048 -k {KEY} >/dev/null
chown -R _rspamd:_rspamd /var/lib/rspamd/dkim
cat > /etc/rspamd/local.d/dkim_signing.conf <<'EOF'
domain {{
  example.com {{
    path = "{KEY}";
    selector = "dkim";
  }}
}}
EOF
cp /etc/rspamd/local.d/dkim_signing.conf /etc/rspamd/local.d/arc.conf
cat > /etc/rspamd/local.d/multimap.conf <<'EOF'
BLACKLIST_SENDER_EMAIL {{
  type = "from";
  filter = "email:addr";
  map = "${{LOCAL_CONFDIR}}/local.d/blacklist_sender_email.map";
  score = 30.0;
}}
EOF
for name in whitelist_ip whitelist_sender_domain whitelist_sender_email blacklist_sender_domain \\
    blacklist_sender_domain_multi blacklist_sender_email; do touch /etc/rspamd/local.d/$name.map; done
printf '{HAND_BLACKLIST}' > /etc/rspamd/local.d/blacklist_sender_email.map
chown _rspamd: /etc/rspamd/local.d/*.map
printf '{HAND_ACTIONS}' > /etc/rspamd/override.d/actions.conf
printf 'password = "%s";\\nenable_password = "%s";\\n' "$(rspamadm pw -p seed-readonly-pw)" \\
    "$(rspamadm pw -p seed-enable-pw)" > /etc/rspamd/local.d/worker-controller.inc
postconf -e 'smtpd_milters = {MILTERS}' 'non_smtpd_milters = {MILTERS}' \\
    'milter_default_action = accept' 'milter_protocol = 6'
systemctl restart rspamd && postfix reload
"""

# The admin's own configuration as the seed left it: every file of rspamd's and Redis's (but the
# maps the deploy moved, left in place), master.cf, the units, and what main.cf sets. (extend.conf
# is made by Debian's clamav-daemon package, which the deploy installs and remove.py leaves.)
ADMINS_FILES = r"""
find /etc/rspamd /etc/redis /etc/postfix/master.cf /etc/systemd/system \
    -path /etc/rspamd/local.d/maps.d -prune -o \
    -path /etc/systemd/system/clamav-daemon.service.d/extend.conf -prune -o \
    -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum
postconf -n | grep -v '^\(smtpd_milters\|non_smtpd_milters\) ='
"""

# OpenDKIM signing example.org, as its own documentation sets it up (Debian's packages).
OPENDKIM_BY_HAND = f"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get -y -q install --no-install-recommends opendkim opendkim-tools >/dev/null
mkdir -p /etc/opendkim/keys/example.org
opendkim-genkey -b 2048 -d example.org -s mail -D /etc/opendkim/keys/example.org
chown -R opendkim:opendkim /etc/opendkim/keys
echo 'mailkey example.org:mail:{OPENDKIM_KEY}' > /etc/opendkim/key.table
echo '*@example.org mailkey' > /etc/opendkim/signing.table
sed -i '/^Socket/d' /etc/opendkim.conf
printf 'Socket inet:8891@localhost\nKeyTable file:/etc/opendkim/key.table\n' >> /etc/opendkim.conf
printf 'SigningTable refile:/etc/opendkim/signing.table\n' >> /etc/opendkim.conf
systemctl restart opendkim
"""


@pytest.fixture(scope="module")
def taken_over(target, tmp_path_factory):
    if os.environ.get("MAIL_HOST"):
        pytest.skip("the takeover test boots its own sandbox")
    _, env = target
    host = dnsworld.fresh_host()
    host.sh(SEED_BY_HAND)
    host.sh(OPENDKIM_BY_HAND)
    never = pyinfra(env, deploy="remove.py")
    assert never.returncode != 0 and "mailguard never set it up; nothing was changed" in never.stdout + never.stderr
    admins_files = host.sh(ADMINS_FILES)
    sent = send(host, "alice@example.org", client_ip=None, body="signed by OpenDKIM alone")
    assert b"s=mail;" in probes.raw_delivered(host, "bob", sent.token)  # OpenDKIM signs before the deploy
    settings = tmp_path_factory.mktemp("takeover") / "settings.toml"
    text = settings_file().read_text()
    settings.write_text(re.sub(r"(?m)^domains = .*$", 'domains = ["example.com", "example.org"]', text))
    env = {**env, "MAIL_SETTINGS": str(settings)}
    key_before = host.sh(f"sha256sum {KEY} {OPENDKIM_KEY}")
    first = pyinfra(env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    return host, env, key_before, first.stdout + first.stderr, admins_files


def test_the_first_run_lists_what_it_replaced_and_keeps_the_originals(taken_over):
    host, _env, _key, output, _ = taken_over
    for path in (
        "/etc/rspamd/override.d/actions.conf",
        "/etc/rspamd/local.d/worker-controller.inc",
        "/etc/rspamd/local.d/multimap.conf",
        "/etc/rspamd/local.d/dkim_signing.conf",
    ):
        assert f"replacing {path}, which mailguard did not write: your version is kept in {original(path)}" in output
    assert host.sh(f"cat {original('/etc/rspamd/override.d/actions.conf')}") == HAND_ACTIONS
    assert host.sh(f"stat -c '%U %a' {original('/etc/rspamd/override.d/actions.conf')}").strip() == "root 644"
    assert host.sh("stat -c '%U %a' /var/lib/mailguard/originals").strip() == "root 700"


def test_the_hand_made_blacklist_keeps_scoring_from_its_new_place(taken_over):
    host, *_ = taken_over
    moved = "/etc/rspamd/local.d/maps.d/blacklist_sender_email.map"
    assert host.sh(f"cat {moved}").startswith(HAND_BLACKLIST)
    assert host.sh("cat /etc/rspamd/local.d/blacklist_sender_email.map").startswith("# mailguard: this list moved")
    assert host.sh(f"cat {original('/etc/rspamd/local.d/blacklist_sender_email.map')}") == HAND_BLACKLIST
    sent = send(host, "handmade@spam.example.net", body="listed by hand before the deploy")
    assert 400 <= sent.code < 500, sent  # +30: greylisted, as the seed's thresholds say
    assert "BLACKLIST_SENDER_EMAIL" in probes.rspamd_log_for(host, sent.token)


def test_the_second_milter_is_kept_and_named(taken_over):
    host, _env, _key, output, _ = taken_over
    assert host.sh("postconf -h smtpd_milters").strip() == MILTERS
    assert host.sh("postconf -h non_smtpd_milters").strip() == MILTERS
    assert f"smtpd_milters keeps {SECOND_MILTER}: OpenDKIM duplicates what rspamd now does" in output


def test_the_wizards_key_is_kept_byte_for_byte_and_signs(taken_over):
    host, _env, key_before, _, _ = taken_over
    assert host.sh(f"sha256sum {KEY} {OPENDKIM_KEY}") == key_before
    sent = send(host, "alice@example.com", client_ip=None, body="signed with the wizard's key")
    assert sent.accepted
    assert probes.delivered(host, "bob", sent.token) is not None
    assert b"s=dkim" in probes.raw_delivered(host, "bob", sent.token)


def _txt_record(zone_file_text: str) -> bytes:
    """The TXT value of opendkim-genkey's mail.txt (the record the admin published)."""
    return "".join(re.findall(r'"([^"]*)"', zone_file_text)).encode()


def test_opendkims_key_and_selector_sign_through_rspamd_with_no_dns_change(taken_over):
    host, _env, _key, output, _ = taken_over
    assert f"example.org: OpenDKIM signs it with {OPENDKIM_KEY} (selector mail)" in output
    copy = "/var/lib/rspamd/dkim/example.org.mail.key"
    assert host.sh(f"stat -c '%U %G %a' {copy}").strip() == "_rspamd _rspamd 600"
    assert host.sh(f"sha256sum < {copy}") == host.sh(f"sha256sum < {OPENDKIM_KEY}")
    assert host.sh(f"stat -c '%U %a' {OPENDKIM_KEY}").strip() == "opendkim 600"  # OpenDKIM's own is untouched
    published = _txt_record(host.sh("cat /etc/opendkim/keys/example.org/mail.txt"))
    printed = re.search(r"^mail\._domainkey\.example\.org\s+TXT\s+(.+)$", output, re.M)
    assert printed and _txt_record(printed.group(1)).split(b"p=")[1] == published.split(b"p=")[1]
    sent = send(host, "alice@example.org", client_ip=None, body="signed by rspamd with OpenDKIM's key")
    raw = probes.raw_delivered(host, "bob", sent.token)
    signatures = re.findall(rb"(?m)^DKIM-Signature:.*?(?=^\S)", raw.split(b"\n\n", 1)[0] + b"\nX", re.S)
    assert len(signatures) == 2 and all(b"s=mail;" in s and b"d=example.org;" in s for s in signatures)
    for index in range(2):  # OpenDKIM's signature and rspamd's, each against the published record
        assert dkimpy.DKIM(raw).verify(idx=index, dnsfunc=lambda name, timeout=5: published)


def test_mail_verdicts_and_a_rerun_that_changes_nothing(taken_over):
    host, env, *_ = taken_over
    assert send(host, "sender@outside.example.net", body=probes.GTUBE).code == 554
    eicar = send(host, "sender@outside.example.net", body="attached", attachment=probes.EICAR.encode())
    assert eicar.code == 554
    again = pyinfra(env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_operations(again.stdout + again.stderr) == []
    assert "which mailguard did not write" not in again.stdout + again.stderr


def test_remove_gives_the_hand_made_server_back_and_a_new_deploy_takes_it_over(taken_over):
    """Last: remove.py puts every file back byte for byte, takes rspamd's milter out and keeps
    OpenDKIM's; mail flows through Postfix without rspamd; a rerun changes nothing; a new deploy
    takes the server over again."""
    host, env, _key, _output, admins_files = taken_over
    removed = pyinfra(env, deploy="remove.py")
    out = removed.stdout + removed.stderr
    assert removed.returncode == 0, out[-4000:]
    assert "--> Backup of" in out and "is given back" in out
    assert re.search(r"(?m)^\s+dkim\._domainkey\.example\.com TXT$", out)  # only rspamd signed with it
    assert "mail._domainkey.example.org" not in out.split("is given back")[1]  # OpenDKIM still does
    assert host.sh(ADMINS_FILES) == admins_files
    for name in ("smtpd_milters", "non_smtpd_milters"):
        assert host.sh(f"postconf -h {name}").strip() == SECOND_MILTER
    assert host.sh("systemctl is-active rspamd redis-server").split() == ["active", "active"]  # the seed ran them
    assert host.sh("systemctl is-enabled unbound clamav-daemon || true").split() == ["disabled", "disabled"]
    assert (
        host.sh("ls /usr/local/sbin; ls /var/lib/mailguard/originals 2>&1 || true")
        .strip()
        .endswith("No such file or directory")
    )
    sent = send(host, "sender@outside.example.net", body=probes.GTUBE)
    assert sent.accepted  # no rspamd in Postfix: GTUBE is not refused
    message = probes.delivered(host, "bob", sent.token)
    assert message is not None and not [h for h in message if h.lower().startswith(("x-spam", "x-rspamd"))]

    again = pyinfra(env, deploy="remove.py")
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_operations(again.stdout + again.stderr) == []

    deploy = pyinfra(env)
    assert deploy.returncode == 0, (deploy.stdout + deploy.stderr)[-4000:]
    assert "which mailguard did not write: your version is kept" in deploy.stdout + deploy.stderr
    assert send(host, "sender@outside.example.net", body=probes.GTUBE).code == 554
