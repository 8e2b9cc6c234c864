"""Every preflight refusal is one line, with no traceback, and leaves the host as it was.

The refusals are planned against modelled hosts (only the one system fact is read), and one
of them is run through the real pyinfra CLI against this machine itself (``@local``): the
settings there ask for an OpenLiteSpeed vhost that does not exist, so the deploy refuses
whether or not this machine has Postfix.
"""

from __future__ import annotations

import subprocess

import pytest
from hostmodel import HostModel, plan
from support import PASSWORDS, ROOT, SETTINGS, pyinfra_command

from operations.preflight import PreflightError

SUPPORTED = "this deploy supports Enterprise Linux 9, Debian 12, Debian 13, Debian unstable"
VHOST = "/usr/local/lsws/conf/vhosts/mail/vhconf.conf"


def unknown_system(model):
    model.os_id, model.id_like, model.version_id, model.name = "ubuntu", "debian", "24.04", "Ubuntu"


def little_memory(model):
    model.mem_kib, model.swap_kib = 900 * 1024, 0


def full_disk(model):
    model.disk_free_kib = 300 * 1024


def no_postfix(model):
    model.commands.remove("postfix")


# (case, change to the modelled host, extra settings, the line after "mailguard: modelled-host: ")
CASES = [
    ("unknown system", unknown_system, {}, f"unsupported system Ubuntu 24.04: {SUPPORTED}"),
    (
        "too little memory",
        little_memory,
        {},
        "memory: 0.9 GiB and no swap, but clamd needs about 1.2 GiB to load its signatures: "
        "add swap, add memory, or set antivirus = false",
    ),
    ("too little disk", full_disk, {}, "disk: 0.3 GiB free on /var, at least 1.0 GiB needed"),
    ("no Postfix", no_postfix, {}, "postfix is not installed: this deploy adds filtering to a working Postfix"),
    (
        "Dovecot 2.3 already has a sieve_before",
        lambda model: setattr(model, "dovecot", {"version": "2.3.16", "plugin/sieve_before": "/var/lib/sieve/x.sieve"}),
        {},
        "dovecot_learning: plugin/sieve_before is already /var/lib/sieve/x.sieve in your Dovecot configuration, "
        "and Junk filing would replace it: set dovecot_learning = false, or keep your script in sieve_before2",
    ),
    (
        "no OpenLiteSpeed vhost",
        lambda model: None,
        {"webui_proxy": "openlitespeed"},
        f"webui_ols_vhost_conf: {VHOST} does not exist on the host: is OpenLiteSpeed's virtual host set up?",
    ),
]


@pytest.mark.parametrize("label, change, extra, line", CASES, ids=[c[0] for c in CASES])
def test_each_refusal_is_one_line_and_nothing_else_is_read(label, change, extra, line):
    model = HostModel.load("el9", "installed")
    change(model)
    with pytest.raises(PreflightError) as refusal:
        plan(model, {**SETTINGS, **extra}, PASSWORDS)
    assert str(refusal.value) == f"mailguard: modelled-host: {line}; nothing was changed"
    assert "\n" not in str(refusal.value)
    assert model.asked == ["facts.SystemProfile"]  # the host state was never read, nothing planned


def test_the_cli_prints_a_refusal_as_one_line_without_a_traceback(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(
        'domains = ["example.com"]\nserver_ipv4 = "203.0.113.25"\n'
        'webui_proxy = "openlitespeed"\nwebui_ols_vhost_conf = "/nonexistent/mailguard/vhconf.conf"\n'
    )
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MAIL_HOST": "@local", "MAIL_SETTINGS": str(settings), **PASSWORDS}
    result = subprocess.run(
        pyinfra_command(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "mailguard: @local: " in line]
    assert len(lines) == 1, output
    assert lines[0].endswith("; nothing was changed")
    assert "postfix is not installed" in lines[0] or "vhconf.conf does not exist on the host" in lines[0]
