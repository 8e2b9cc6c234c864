"""Security review (#15) fixes that show in the plan: facts in, commands and files out."""

from __future__ import annotations

from hostmodel import HostModel, by_name, converge, plan
from support import PASSWORDS, SETTINGS


def test_only_loopback_is_local_unless_the_admin_lists_networks():
    options = "rspamd configuration | rspamd: override.d/options.inc"
    default = by_name(plan(HostModel.load("debian13", "fresh"), SETTINGS, PASSWORDS))[options]
    text = default.uploads()["/etc/rspamd/override.d/options.inc"].decode()
    assert 'local_addrs = ["127.0.0.0/8", "::1"];' in text
    listed = {**SETTINGS, "local_networks": ["10.8.0.0/24"]}
    text = by_name(plan(HostModel.load("debian13", "fresh"), listed, PASSWORDS))[options].uploads()
    assert 'local_addrs = ["127.0.0.0/8", "::1", "10.8.0.0/24"];' in text["/etc/rspamd/override.d/options.inc"].decode()


def test_submission_services_defer_mail_while_rspamd_is_down_and_port_25_still_accepts():
    model = HostModel.load("debian13", "fresh")
    model.master["submission/inet"] = {"syslog_name": "postfix/submission"}
    model.master["submissions/inet"] = {}
    op = "Postfix milter | Postfix: submission waits while rspamd is down (tempfail)"
    commands = by_name(converge(model, SETTINGS, PASSWORDS)[0])[op].commands
    assert commands[-1] == (
        "postconf -P submission/inet/milter_default_action=tempfail submissions/inet/milter_default_action=tempfail"
    )
    assert model.master["submission/inet"]["syslog_name"] == "postfix/submission"  # the admin's -o kept
    assert model.master["smtp/inet"] == {} and model.postconf["milter_default_action"] == "accept"
    assert by_name(plan(model, SETTINGS, PASSWORDS))[op].commands == []  # a rerun changes nothing


def test_without_a_submission_service_master_cf_is_not_touched():
    model = HostModel.load("debian13", "fresh")
    op = "Postfix milter | Postfix: submission waits while rspamd is down (tempfail)"
    assert by_name(converge(model, SETTINGS, PASSWORDS)[0])[op].commands == []


def test_a_dqs_key_goes_only_into_a_file_rspamd_alone_reads(caplog):
    key = "k7q2m9x4w1c8v5b3n6z0p2r4t8"
    op_name = "rspamd configuration | rspamd: local.d/rbl.conf (Spamhaus DQS on)"
    ops = by_name(plan(HostModel.load("debian13", "fresh"), SETTINGS, {**PASSWORDS, "SPAMHAUS_DQS_KEY": key}))
    written = ops[op_name].uploads()["/etc/rspamd/local.d/rbl.conf"].decode()
    assert f'rbl = "{key}.zen.dq.spamhaus.net";' in written and f'rbl = "{key}.dbl.dq.spamhaus.net";' in written
    placed = [c for c in ops[op_name].commands if isinstance(c, str) and c.startswith("files.sh place")]
    assert placed and placed[0].args[3:5] == ("root:_rspamd", "640")
    assert not any(key in str(c) for op in ops.values() for c in op.commands if not isinstance(c, tuple))
    without = by_name(plan(HostModel.load("debian13", "fresh"), SETTINGS, PASSWORDS))
    assert "rspamd configuration | rspamd: local.d/rbl.conf (Spamhaus DQS off)" in without
