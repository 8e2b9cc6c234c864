"""Faults and a broken configuration on the booted host: mail is never lost, nothing breaks.

Runs after test_real_mail.py (file order) on the same deployed host, and leaves it as the
first deploy made it. Counts go to artifacts/resilience.json for the closing note.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import support
from support import EXTERNAL, ROOT, host_platform, pyinfra, send, settings_file

from mailguard import layout
from sandbox import probes
from sandbox.results import changed_operations

pytestmark = pytest.mark.e2e
COUNTS: dict[str, object] = {}
CLEAN_SENDER = "friend@elsewhere.example.net"
BLACKLISTED = "spammer@bulk.example.net"  # +30: greylisted (reject is off, as in the seed)


def record(key: str, value) -> None:
    COUNTS[key] = value
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "resilience.json").write_text(json.dumps(COUNTS, indent=2) + "\n")


def with_settings(env: dict, tmp_path, extra: str) -> dict:
    path = tmp_path / "settings.toml"
    path.write_text(settings_file().read_text() + "\n" + extra + "\n")
    return {**env, "MAIL_SETTINGS": str(path)}


def rspamd_files(target) -> str:
    return target.sh("cd /etc/rspamd && find local.d override.d -type f | sort | xargs sha256sum")


def main_pid(target, unit: str) -> str:
    return target.sh(f"systemctl show -p MainPID --value {unit}").strip()


def controller_read_only(password: str) -> bool | None:
    """The controller's read_only flag for ``password``; None when it is refused."""
    status, body = support.controller("/stat", password)
    return json.loads(body)["read_only"] if status == 200 else None


@dataclass
class Stream:
    """Senders that keep mailing through the host until told to stop; every outcome kept."""

    target: object
    kinds: tuple[str, ...]
    threads: int = 4
    minimum: int = 0
    outcomes: list = field(default_factory=list)  # (kind, token, code, reply)
    errors: list = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    messages: dict = field(default_factory=dict)  # token -> message, for a retry

    def _one(self, kind: str):
        sender, extra = {
            "clean": (CLEAN_SENDER, {"body": "an ordinary message"}),
            "gtube": (CLEAN_SENDER, {"body": probes.GTUBE}),
            "eicar": (CLEAN_SENDER, {"body": "see attachment", "attachment": probes.EICAR.encode()}),
            "blacklisted": (BLACKLISTED, {"body": "bulk offer"}),
        }[kind]
        msg, token = probes.message(sender, "bob@example.com", **extra)
        self.messages[token] = msg
        return probes.send(self.target, msg, token, client_ip=EXTERNAL)

    def retry(self, token: str):
        """Send a deferred message again, as the sending server would."""
        return probes.send(self.target, self.messages[token], token, client_ip=EXTERNAL)

    def _run(self, offset: int):
        i = offset
        while not self._stop.is_set() or len(self.outcomes) < self.minimum:
            kind = self.kinds[i % len(self.kinds)]
            i += self.threads
            try:
                sent = self._one(kind)
                self.outcomes.append((kind, sent.token, sent.code, sent.reply))
                if 400 <= sent.code < 500:
                    time.sleep(0.2)  # a sending server does not hammer a host that defers
            except (OSError, smtplib.SMTPException, RuntimeError) as error:  # the sender would have to retry this mail
                self.errors.append(f"{kind}: {error!r}")

    def __enter__(self):
        self._workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=300)


BROKEN_SNIPPETS = [
    # A syntax error: rspamadm configtest fails and names the file.
    ("local.d/options.inc", "dns { nameserver = [ unclosed", ("options.inc",)),
    # Valid syntax, but the antivirus module cannot load (no servers): rspamd 3.4's configtest says
    # OK and the module state shows it failed; 3.12 and later refuse the rule in configtest itself.
    (
        "override.d/antivirus.conf",
        'clamav { type = \\"clamav\\"; }',
        ("rspamd module antivirus did not load", "module antivirus: cannot add AV rule"),
    ),
]


@pytest.mark.version_sensitive  # configtest and module states differ between rspamd versions
@pytest.mark.parametrize("name, content, says", BROKEN_SNIPPETS, ids=["syntax error", "module fails"])
def test_a_broken_snippet_is_never_activated_and_the_last_good_files_are_back(deployed, tmp_path, name, content, says):
    target, env, *_ = deployed
    before_files, before_pid = rspamd_files(target), main_pid(target, "rspamd")
    broken = with_settings(env, tmp_path, f'[rspamd_snippets]\n"{name}" = "{content}"')
    with Stream(target, ("gtube", "clean"), threads=2) as stream:
        time.sleep(1)
        result = pyinfra(broken)
        time.sleep(1)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "rspamd's configuration check failed" in output and "put back as they were" in output, output[-3000:]
    assert any(text in output for text in says), output[-3000:]  # the checker's own message
    assert rspamd_files(target) == before_files
    assert target.sh(f"ls /etc/rspamd/{name} 2>/dev/null || echo absent").strip() == "absent"
    assert main_pid(target, "rspamd") == before_pid  # neither restarted nor reloaded into the broken file
    assert (
        target.sh("ls /var/lib/mailguard/pending /var/lib/mailguard/last-good 2>/dev/null | grep -v : || true").strip()
        == ""
    )
    # rspamd scanned every message throughout: GTUBE refused, clean mail delivered.
    assert not stream.errors, stream.errors
    gtube = [o for o in stream.outcomes if o[0] == "gtube"]
    clean = [o for o in stream.outcomes if o[0] == "clean"]
    assert gtube and all(code == 554 for _, _, code, _ in gtube), gtube
    assert clean and all(code == 250 for _, _, code, _ in clean), clean
    assert probes.queue_empty(target)
    assert {token for _, token, _, _ in clean} <= probes.delivered_tokens(target, "bob")
    record(f"broken config ({name}): messages sent during the failed deploy", len(stream.outcomes))
    # The admin fixes the settings: the next run changes nothing, the files were already right.
    rerun = pyinfra(env)
    assert rerun.returncode == 0 and changed_operations(rerun.stdout + rerun.stderr) == []


@pytest.mark.parametrize("roles", [("rspamd_unit",), ("clamd_unit", "redis_unit")], ids=["rspamd", "clamd+redis"])
def test_with_a_service_stopped_mail_flows_and_the_next_run_restarts_it(deployed, roles):
    target, env, *_ = deployed
    units = [getattr(host_platform(target), role) for role in roles]
    target.sh("systemctl stop " + " ".join(units))
    sent = [send(target, CLEAN_SENDER, body=f"while {' and '.join(units)} are down {n}") for n in range(5)]
    assert all(s.code == 250 for s in sent), sent
    assert probes.queue_empty(target)
    assert {s.token for s in sent} <= probes.delivered_tokens(target, "bob")
    result = pyinfra(env)
    assert result.returncode == 0, result.stderr[-2000:]
    for unit in units:
        assert target.sh(f"systemctl is-active {unit}").strip() == "active"
    assert any("enabled and running" in name for name in changed_operations(result.stdout + result.stderr))
    record(f"fault: {'+'.join(units)} stopped: messages sent and delivered", len(sent))


def test_a_rerun_that_restarts_rspamd_during_a_stream_of_mail_loses_nothing(deployed, tmp_path):
    target, env, *_ = deployed
    changed = {**env, "RSPAMD_ENABLE_PASSWORD": env["RSPAMD_ENABLE_PASSWORD"] + "-rotated"}
    before_pid = main_pid(target, "rspamd")
    with Stream(
        target, ("clean", "clean", "clean", "eicar", "clean", "blacklisted", "clean", "gtube"), minimum=200
    ) as stream:
        time.sleep(2)
        rotated = pyinfra(changed)  # the controller file changes: rspamd restarts
        new_password_works = controller_read_only(changed["RSPAMD_ENABLE_PASSWORD"])
        old_password_works = controller_read_only(env["RSPAMD_ENABLE_PASSWORD"])
        back = pyinfra(env)  # and back: a second restart
    assert rotated.returncode == 0 and back.returncode == 0, (rotated.stderr + back.stderr)[-3000:]
    assert main_pid(target, "rspamd") != before_pid
    # The rotated enable password took effect on that run, and the old one stopped working.
    assert new_password_works is False and old_password_works is None
    assert not stream.errors, stream.errors[:5]
    # What the deploy deferred while rspamd restarted, the sending server sends again later.
    deferred = [o for o in stream.outcomes if o[2] == 451 and "Service unavailable" in o[3]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        retries = dict(zip((o[1] for o in deferred), pool.map(stream.retry, (o[1] for o in deferred)), strict=True))
    retried = len(retries)
    outcomes = [
        (kind, token, retries[token].code, retries[token].reply) if token in retries else (kind, token, code, reply)
        for kind, token, code, reply in stream.outcomes
    ]
    assert probes.queue_empty(target, timeout=120)
    delivered = probes.delivered_tokens(target, "bob")
    unscanned = probes.unscanned_tokens(target, "bob")
    tally = {
        "sent": len(outcomes),
        "deferred while rspamd restarted, then retried": retried,
        "delivered": 0,
        "rejected by policy": 0,
        "greylisted": 0,
        "lost": [],
        "by kind": {},
        "delivered unscanned": {},
    }
    for kind, token, code, reply in outcomes:
        by_kind = tally["by kind"].setdefault(kind, {})
        by_kind[str(code)] = by_kind.get(str(code), 0) + 1
        if token in unscanned:
            tally["delivered unscanned"][kind] = tally["delivered unscanned"].get(kind, 0) + 1
        if code == 250:
            if token in delivered:
                tally["delivered"] += 1
            else:
                tally["lost"].append((kind, token))
        elif code == 554 and kind in ("eicar", "gtube"):
            assert token not in delivered
            tally["rejected by policy"] += 1
        elif code == 451 and kind == "blacklisted":
            tally["greylisted"] += 1  # the policy's temporary refusal: the sending server keeps it
        else:
            tally["lost"].append((kind, token, code, reply))
    record("stream during two restarting reruns", tally)
    assert tally["sent"] >= 200
    assert tally["lost"] == [], tally
    # A restart the deploy makes lets no message through unscanned: they are deferred instead.
    assert tally["delivered unscanned"] == {}, tally
    # The two reruns changed the controller file and restarted rspamd; the next one is a no-op.
    final = pyinfra(env)
    assert changed_operations(final.stdout + final.stderr) == []


def test_with_antivirus_action_none_infected_mail_is_still_scored_and_tagged(deployed, tmp_path):
    target, env, *_ = deployed
    scored_only = with_settings(env, tmp_path, 'antivirus_action = "none"')
    try:
        assert pyinfra(scored_only).returncode == 0
        sent = send(target, CLEAN_SENDER, body="infected, but only scored", attachment=probes.EICAR.encode())
        assert "CLAM_VIRUS(10.00)" in probes.rspamd_log_for(target, sent.token)  # 0.00 before: not scored at all
        assert sent.code in (250, 451), sent  # not rejected: tagged, or greylisted if the rest adds up past 20
        if sent.code == 250:
            delivered = probes.delivered(target, "bob", sent.token)
            assert delivered is not None and delivered["X-Spam-Flag"] == "YES"
    finally:
        assert pyinfra(env).returncode == 0


DROP_IN = "/etc/systemd/system/rspamd.service.d/mailguard-test.conf"


def hold_state(target) -> tuple[str, str]:
    """Postfix's milter_default_action, and whether the hold's release timer is armed."""
    action = target.sh("postconf -h milter_default_action").strip()
    timer = target.sh("systemctl is-active mailguard-hold-release.timer", check=False).strip()
    return action, timer


def break_rspamd_start(target, exec_start_pre: str) -> None:
    target.sh(
        f"mkdir -p {DROP_IN.rsplit('/', 1)[0]} && printf '[Service]\\nExecStartPre={exec_start_pre}\\n' > {DROP_IN}"
        " && systemctl daemon-reload"
    )


def mend_rspamd_start(target, env) -> None:
    # The failed starts used up systemd's start limit: clear it, as an admin would.
    target.sh(
        f"rm -f {DROP_IN}; systemctl daemon-reload; systemctl stop rspamd; systemctl reset-failed rspamd", check=False
    )
    mended = pyinfra(env)  # the marker the failed run left makes this run restart rspamd
    assert mended.returncode == 0, (mended.stdout + mended.stderr)[-3000:]
    assert target.sh("systemctl is-active rspamd").strip() == "active"
    assert hold_state(target) == ("accept", "inactive")


def test_when_rspamd_fails_to_come_back_the_hold_is_released_at_once(deployed):
    target, env, *_ = deployed
    rotated = {**env, "RSPAMD_ENABLE_PASSWORD": env["RSPAMD_ENABLE_PASSWORD"] + "-failed"}
    break_rspamd_start(target, "/bin/false")
    try:
        result = pyinfra(rotated)  # the controller file changes: a restart, which fails
        assert result.returncode != 0
        assert hold_state(target) == ("accept", "inactive")  # released on the failure path, timer disarmed
        sent = send(target, CLEAN_SENDER, body="while rspamd cannot start")
        assert sent.code == 250, sent  # port 25 fails open, as the seed wants
    finally:
        mend_rspamd_start(target, env)
    record("rspamd failed to restart: milter_default_action right after the failed run", "accept")


def test_when_the_deploy_vanishes_mid_hold_the_host_releases_it_within_the_bound(deployed):
    target, env, *_ = deployed
    rotated = {**env, "RSPAMD_ENABLE_PASSWORD": env["RSPAMD_ENABLE_PASSWORD"] + "-vanished"}
    break_rspamd_start(target, "/bin/sleep 900")  # the restart hangs: the deploy never says "off"
    run = subprocess.Popen(
        support.pyinfra_command(),
        cwd=ROOT,
        env=rotated,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while hold_state(target)[0] != "tempfail":
            assert time.monotonic() < deadline and run.poll() is None, "the hold never started"
            time.sleep(0.5)
        held_at = time.monotonic()
        assert hold_state(target)[1] == "active"  # the release is armed before mail is held
        os.killpg(run.pid, signal.SIGKILL)  # the admin's machine vanishes, and its SSH session with it
        run.wait(timeout=30)
        # ...and the shell it left on the host dies too (else systemd's start timeout would end
        # the restart and that shell would release the hold: not what is tested here).
        target.sh("pkill -KILL -f 'restarte[d]=' || true")
        bound = layout.HOLD_BOUND_SECONDS
        while hold_state(target)[0] != "accept":
            assert time.monotonic() - held_at < bound + 30, f"still held after {bound + 30} s"
            time.sleep(2)
        released_after = time.monotonic() - held_at
        assert bound - 15 <= released_after <= bound + 30  # the host's own timer released it
        assert send(target, CLEAN_SENDER, body="after the hold ran out").code == 250
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        mend_rspamd_start(target, env)
    record("deploy killed mid-hold: seconds until the host released it", round(released_after))
