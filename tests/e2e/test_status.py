"""status.py on the deployed sandbox: all OK on a healthy host, and each planted fault the line
and the exit code it must give, through the real CLI (`python status.py --json`, Nagios codes) and
pyinfra's own (`pyinfra -y inventory.py status.py`, the lines an admin reads). Every fault is put
right again before the next.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time

import dnsworld
import pytest
from support import ROOT, pyinfra, settings_file

pytestmark = pytest.mark.version_sensitive

CLAMAV_DB = "/var/lib/clamav"


def status(env: dict, settings=None) -> tuple[int, list[dict]]:
    run_env = {**env, **({"MAIL_SETTINGS": str(settings)} if settings else {})}
    run = subprocess.run(
        [sys.executable, "status.py", "--json"], cwd=ROOT, env=run_env, capture_output=True, text=True, check=False
    )
    report = json.loads(run.stdout)
    assert report["exit"] == run.returncode, report
    (host,) = report["hosts"]
    return run.returncode, host["checks"]


def not_ok(checks: list[dict]) -> list[tuple[str, str, str]]:
    return [(c["name"], c["status"], c["detail"]) for c in checks if c["status"] != "OK"]


@pytest.fixture(scope="module")
def healthy(deployed):
    """The deployed sandbox as a healthy server is: its queue empty, its signatures fresh (the
    sandbox has no internet: its one local signature file is touched as freshclam would refresh it)."""
    target, env, _, _ = deployed
    target.sh(f"postsuper -d ALL >/dev/null 2>&1; touch {CLAMAV_DB}/*.hdb")
    return target, env


def test_a_healthy_host_is_all_ok_in_two_commands(healthy):
    target, env = healthy
    code, checks = status(env)
    assert not_ok(checks) == [] and code == 0
    names = {c["name"] for c in checks}
    assert {"service", "milter", "rspamd", "configtest", "signatures", "redis", "bayes", "dkim", "queue"} <= names
    result = pyinfra(env, "--debug", deploy="status.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "--> mailguard status of" in output and "OK    rspamd is running" in output and "FAIL " not in output
    assert env["RSPAMD_CONTROLLER_PASSWORD"] not in output and env["RSPAMD_ENABLE_PASSWORD"] not in output
    # the system profile (with the keys' public halves the deploy's questions ask) and status.sh
    assert output.count("Command exit status:") <= 3


def test_rspamd_stopped_is_a_failure_with_its_fix(healthy):
    target, env = healthy
    target.sh("systemctl stop rspamd")
    try:
        code, checks = status(env)
    finally:
        target.sh("systemctl start rspamd && /usr/local/sbin/mailguard-rspamd-check --wait-ready")
    assert code == 2
    failed = {c["name"]: c for c in checks if c["status"] == "FAIL"}
    assert "rspamd" in failed["service"]["detail"] and failed["service"]["fix"].startswith("systemctl start rspamd")
    assert "rspamd" in failed  # its milter port is gone too


def test_the_milter_taken_out_of_postfix_is_a_failure(healthy):
    target, env = healthy
    before = target.sh("postconf -h smtpd_milters").strip()
    target.sh("postconf -e smtpd_milters=")
    try:
        code, checks = status(env)
    finally:
        target.sh(f"postconf -e {shlex.quote(f'smtpd_milters={before}')}")
    assert code == 2
    assert [(n, s) for n, s, _ in not_ok(checks)] == [("milter", "FAIL")]


def test_old_signatures_are_a_failure(healthy):
    target, env = healthy
    target.sh(f"touch -d '10 days ago' {CLAMAV_DB}/*.hdb")
    try:
        code, checks = status(env)
    finally:
        target.sh(f"touch {CLAMAV_DB}/*.hdb")
    assert code == 2
    (failed,) = not_ok(checks)
    assert failed[:2] == ("signatures", "FAIL") and "10.0 days old" in failed[2]


def test_a_deferred_message_warns_with_its_reason(healthy):
    """Mail to the outside deferred as an unreachable server's would be (defer_transports: the
    sandbox has no internet, and a name that does not resolve may bounce instead)."""
    target, env = healthy
    target.sh("postconf -e defer_transports=smtp && postfix reload >/dev/null 2>&1")
    try:
        target.sh("echo 'Subject: to nowhere' | sendmail someone@nowhere.example.org")
        for _ in range(50):
            if '"deferred"' in target.sh("postqueue -j"):
                break
            time.sleep(0.2)
        code, checks = status(env)
    finally:
        target.sh("postconf -e defer_transports= && postfix reload >/dev/null 2>&1; postsuper -d ALL >/dev/null 2>&1")
    assert code == 1
    (warned,) = not_ok(checks)
    assert warned[:2] == ("queue", "WARN") and "1 deferred" in warned[2]


def test_this_server_listed_on_a_blocklist_fails_and_a_refused_lookup_warns(healthy, tmp_path):
    _target, env = healthy
    base = settings_file().read_text()
    listed = tmp_path / "listed.toml"
    listed.write_text(base.replace('server_ipv4 = "192.0.2.25"', f'server_ipv4 = "{dnsworld.LISTED_CLIENT}"'))
    code, checks = status(env, listed)
    assert code == 2
    assert [(n, s) for n, s, _ in not_ok(checks)] == [("listing", "FAIL")]
    refused = tmp_path / "refused.toml"
    refused.write_text(base.replace('server_ipv4 = "192.0.2.25"', f'server_ipv4 = "{dnsworld.REFUSED_CLIENT}"'))
    code, checks = status(env, refused)
    assert code == 1
    (warned,) = not_ok(checks)
    assert warned[:2] == ("listing", "WARN") and "blocked" in warned[2]
