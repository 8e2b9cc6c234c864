"""deploy.py through pyinfra's engine against modelled AlmaLinux 9 hosts."""

import hashlib
import re

import pytest
from hostmodel import HostModel, activation_of, apply, by_name, converge, metadata_set, plan
from support import PASSWORDS, SETTINGS

from mailguard import directives
from mailguard.platforms import EL_9
from operations.rspamd import kept_hash


def test_unbound_comes_in_the_main_transaction_after_its_configuration():
    """Its package starts it: the hooks that would make it the system's resolver are masked, and
    its configuration written, before the one transaction that installs it with the rest."""
    names = list(by_name(plan(HostModel.load("debian13", "fresh"), SETTINGS, PASSWORDS)))
    install = names.index("Repositories and packages | Install rspamd, redis and ClamAV")
    resolver = [i for i, name in enumerate(names) if name.startswith("Resolver for rspamd | ")]
    assert resolver and max(resolver) < install, names
    assert not any("unbound installed" in name for name in names)


@pytest.mark.parametrize("source", ["distro", "upstream"])
def test_the_prerequisites_have_a_transaction_of_their_own_only_before_a_repository(source):
    ops = plan(HostModel.load("debian13", "fresh"), {**SETTINGS, "rspamd_source": source}, PASSWORDS)
    installs = [c for op in ops for c in op.commands if isinstance(c, str) and " install " in c]
    assert ("ca-certificates curl rspamd" in installs[-1]) == (source == "distro"), installs
    assert len(installs) == (1 if source == "distro" else 2), installs


def test_fresh_host_gets_the_full_plan():
    ops = by_name(plan(HostModel.load("el9", "fresh"), SETTINGS, PASSWORDS))
    assert ops["Repositories and packages | Install repository prerequisites"].commands == [
        "dnf -y -q install epel-release"
    ]
    assert ops["Repositories and packages | Install rspamd, redis and ClamAV"].commands == [
        "dnf -y -q install rspamd redis openssl clamav clamd clamav-freshclam unbound"
    ]
    repo = ops["Repositories and packages | Add rspamd's repository"].uploads()["/etc/yum.repos.d/rspamd.repo"].decode()
    assert "baseurl=http://rspamd.com/rpm-stable/centos-9/$basearch" in repo and "gpgcheck=1" in repo
    assert ops["Redis | Add _rspamd to redis"].commands == ["usermod -a -G redis _rspamd"]
    assert ops["ClamAV | Add _rspamd to virusgroup"].commands == ["usermod -a -G virusgroup _rspamd"]
    actions = (
        ops["rspamd configuration | rspamd: override.d/actions.conf"]
        .uploads()["/etc/rspamd/override.d/actions.conf"]
        .decode()
    )
    assert "reject = 1000.0;" in actions and "add_header = 10.0;" in actions and "greylist = null;" in actions
    greylist = ops["rspamd configuration | rspamd: local.d/greylist.conf"].uploads()[
        "/etc/rspamd/local.d/greylist.conf"
    ]
    assert "greylist_min_score = 20.0;" in greylist.decode()
    av = (
        ops["rspamd configuration | rspamd: local.d/antivirus.conf"]
        .uploads()["/etc/rspamd/local.d/antivirus.conf"]
        .decode()
    )
    assert 'servers = "/run/clamd.scan/clamd.sock";' in av and 'action = "reject";' in av
    dmarc = (
        ops["rspamd configuration | rspamd: local.d/dmarc.conf"].uploads()["/etc/rspamd/local.d/dmarc.conf"].decode()
    )
    assert "reporting {" in dmarc and "send_reports =" not in dmarc
    blacklist = ops["rspamd configuration | rspamd: map local.d/maps.d/blacklist_sender_email.map"]
    assert b"spam@bad.example.net\n" in blacklist.uploads().values()
    placed = [c for c in blacklist.commands if isinstance(c, str) and c.startswith("files.sh place")]
    assert [c.args[3] for c in placed] == ["_rspamd:_rspamd"]
    # The web UI saves a map through a temporary file beside it: _rspamd must own the directory.
    maps_dir = ops["rspamd configuration | rspamd: local.d/maps.d/ writable by the web UI"].commands
    assert ("/etc/rspamd/local.d/maps.d", "_rspamd:_rspamd", 755) in [metadata_set(c) for c in maps_dir]
    multimap = (
        ops["rspamd configuration | rspamd: local.d/multimap.conf"]
        .uploads()["/etc/rspamd/local.d/multimap.conf"]
        .decode()
    )
    assert 'map = "${LOCAL_CONFDIR}/local.d/maps.d/blacklist_sender_email.map";' in multimap
    key_op = ops["DKIM keys | DKIM: key for example.com (selector dkim)"]
    [(path, pem)] = key_op.uploads().items()
    assert path == "/var/lib/rspamd/dkim/example.com.dkim.key" and pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    staging = "/var/lib/mailguard/staging"  # root only: the key is 0600 from its first byte
    assert key_op.commands[0].args[:2] == ("stage", staging) and key_op.commands[0].args[2].startswith(f"{staging}/")
    assert key_op.commands[-1].args == ("place", key_op.commands[0].args[2], path, "_rspamd:_rspamd", "600", "link")
    postfix = ops["Postfix milter | Postfix: rspamd milter"].commands
    assert postfix == [
        "/usr/local/sbin/mailguard-stash postfix /etc/postfix/main.cf",
        "postconf -e 'milter_default_action = accept' 'smtpd_milters = inet:localhost:11332' "
        "'non_smtpd_milters = inet:localhost:11332'",
        "touch -d '2 seconds ago' -- /etc/postfix/main.cf",  # (Postfix reads it at once: see settled)
    ]
    rspamd = ops["Activate | rspamd: check the configuration, then restart (workers, groups) or reload"].commands
    activation = activation_of(rspamd[0])
    assert activation.check[:4] == ("/usr/local/sbin/mailguard-rspamd-check", "dkim_signing", "arc", "dmarc")
    assert (activation.verb, activation.unit, activation.ready) == (
        "restart",
        "rspamd",
        ("/usr/local/sbin/mailguard-rspamd-check", "--wait-ready"),
    )
    # While rspamd restarts, Postfix defers mail (4xx) instead of passing it unscanned (activate.sh
    # runs the hold with "on" and "off"; its tests show the order and the release on failure).
    assert activation.hold == "/usr/local/sbin/mailguard-hold-mail"
    # A failed check puts the last good files back and fails the deploy.
    assert (activation.rollback, activation.last_good) == (
        "/usr/local/sbin/mailguard-rollback",
        "/var/lib/mailguard/last-good/rspamd",
    )
    assert activation.markers == (
        "/var/lib/mailguard/pending/rspamd-restart",
        "/var/lib/mailguard/pending/rspamd-reload",
    )
    multimap_op = ops["rspamd configuration | rspamd: local.d/multimap.conf"].commands
    assert multimap_op[0] == "/usr/local/sbin/mailguard-stash rspamd /etc/rspamd/local.d/multimap.conf"
    # rspamd streams mail to clamd (INSTREAM): clamd needs no SELinux boolean, and keeps its own user.
    assert not [name for name in ops if "SELinux" in name]
    log_commands = ops["ClamAV | ClamAV: /var/log/clamd.scan writable by clamscan"].commands
    assert log_commands[0] == "install -m 640 /dev/null /var/log/clamd.scan"
    assert [metadata_set(c) for c in log_commands[1:]] == [("/var/log/clamd.scan", "clamscan:clamscan", 640)]
    # CodeReady Builder before EPEL: EPEL's packages need it.
    names = list(ops)
    crb = "Repositories and packages | Enable the crb repository"
    assert ops[crb].commands == ["dnf config-manager --set-enabled crb"]
    assert names.index(crb) < names.index("Repositories and packages | Install repository prerequisites")


def test_controller_hashes_verify_and_hide_the_passwords():
    ops = by_name(plan(HostModel.load("el9", "fresh"), SETTINGS, PASSWORDS))
    op = ops["rspamd configuration | rspamd: local.d/worker-controller.inc (password hashes)"]
    [content] = op.uploads().values()
    text = content.decode()
    for secret in PASSWORDS.values():
        assert secret not in text
    hashes = dict(re.findall(r'^(password|enable_password) = "([^"]*)";', text, re.M))
    for key, env in (("password", "RSPAMD_CONTROLLER_PASSWORD"), ("enable_password", "RSPAMD_ENABLE_PASSWORD")):
        stored = hashes[key]
        reported = (stored.split("$")[2], hashlib.sha256(stored.encode()).hexdigest())
        assert kept_hash(PASSWORDS[env], reported) == stored
    placed = [c for c in op.commands if isinstance(c, str) and c.startswith("files.sh place")]
    assert [c.args[3:5] for c in placed] == [("root:_rspamd", "640")]


def test_stock_scan_conf_ends_up_as_the_seed_wants():
    model = HostModel.load("el9", "installed")
    ops = by_name(plan(model, SETTINGS, PASSWORDS))
    text = ops["ClamAV | ClamAV: edit /etc/clamd.d/scan.conf"].uploads()["/etc/clamd.d/scan.conf"].decode()
    active = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert sorted(active) == sorted(
        [
            "LogFile /var/log/clamd.scan",
            "User clamscan",
            "LogTime yes",
            "LogSyslog yes",
            "LocalSocket /run/clamd.scan/clamd.sock",
            "LocalSocketGroup virusgroup",
            "LocalSocketMode 660",
            "ExcludePath ^/proc/",
            "ExcludePath ^/sys/",
        ]
    )
    assert "#Example" in text
    assert directives.edit(text, EL_9.clamd_settings, EL_9.clamd_disabled) == text


def test_a_converged_host_is_asked_one_command_once_its_questions_are_remembered(monkeypatch, tmp_path):
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))  # nothing remembered yet
    model.asked.clear()
    ops = plan(model, SETTINGS, PASSWORDS)
    assert not any(op.changes for op in ops) and len(ops) > 40
    assert sorted(model.asked) == ["facts.SystemProfile", "hoststate.HostState"]
    (kept,) = tmp_path.glob("questions-*.json")
    assert kept.stat().st_mode & 0o777 == 0o600 and tmp_path.stat().st_mode & 0o777 == 0o700
    assert PASSWORDS["RSPAMD_CONTROLLER_PASSWORD"] not in kept.read_text()

    model.asked.clear()
    again = plan(model, SETTINGS, PASSWORDS)
    assert model.asked == ["facts.SystemProfile"]  # the state read rode along with it
    (profile_kwargs,) = model.asked_kwargs[-1:]
    remembered = set(profile_kwargs["wants"])
    assert remembered and not {("pwhash", path) for path in profile_kwargs["password_files"]} & remembered
    assert [(op.name, op.commands) for op in again] == [(op.name, op.commands) for op in ops]


@pytest.mark.parametrize("tamper", ["another controller's key", "an edited list", "no list"])
def test_remembered_questions_this_controller_did_not_sign_are_never_asked(monkeypatch, tmp_path, tamper):
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))
    plan(model, SETTINGS, PASSWORDS)
    (kept,) = tmp_path.glob("questions-*.json")
    if tamper == "another controller's key":
        (tmp_path / "key").write_bytes(bytes(range(32)))
    elif tamper == "an edited list":
        kept.write_text(kept.read_text().replace('["text", "', '["text", "/etc/shadow', 1))
    else:
        kept.write_text("[]")
    model.asked.clear()
    ops = plan(model, SETTINGS, PASSWORDS)
    assert sorted(model.asked) == ["facts.SystemProfile", "hoststate.HostState"]
    assert "/etc/shadow" not in str(model.asked_kwargs)
    assert not any(op.changes for op in ops)


def test_a_damaged_key_is_made_anew_and_the_questions_kept_again(monkeypatch, tmp_path):
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))
    (tmp_path / "key").write_bytes(b"short")
    plan(model, SETTINGS, PASSWORDS)
    assert len((tmp_path / "key").read_bytes()) == 32 and list(tmp_path.glob("questions-*.json"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no scratch left
    model.asked.clear()
    plan(model, SETTINGS, PASSWORDS)
    assert model.asked == ["facts.SystemProfile"]


def test_what_is_kept_on_the_controller_owes_nothing_to_the_passwords(monkeypatch, tmp_path):
    """A fast hash of a password in a file would let whoever copies it guess the password far
    faster than rspamd's PBKDF2 allows: the signature's key is random, the same for any password."""
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))
    plan(model, SETTINGS, PASSWORDS)
    (kept,) = tmp_path.glob("questions-*.json")
    first = kept.read_text()
    key = tmp_path / "key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    other = {name: f"another-{name.lower()}-entirely" for name in PASSWORDS}
    kept.unlink()
    model.asked.clear()
    plan(model, SETTINGS, other)
    assert kept.read_text() == first
    model.asked.clear()
    plan(model, SETTINGS, PASSWORDS)
    assert model.asked == ["facts.SystemProfile"]  # remembered under another password, still asked at once


def test_a_question_the_last_run_did_not_ask_is_asked_after_the_profile(monkeypatch, tmp_path):
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))
    plan(model, SETTINGS, PASSWORDS)
    model.asked.clear()
    snippet = {"rspamd_snippets": {"local.d/custom.conf": "# the admin's\n"}}  # a file never asked about
    ops = plan(model, {**SETTINGS, **snippet}, PASSWORDS)
    assert sorted(model.asked) == ["facts.SystemProfile", "hoststate.HostState"]
    assert any("custom.conf" in str(op.commands) for op in ops if op.changes)


@pytest.mark.parametrize("start", ["fresh", "installed"])
def test_host_converges_and_then_nothing_changes(start):
    model = HostModel.load("el9", start)
    plans = converge(model, SETTINGS, PASSWORDS)
    assert not any(op.changes for op in plans[-1]), [op.name for op in plans[-1] if op.changes]
    assert len(plans) <= 3
    assert model.files["/var/lib/rspamd/dkim/example.com.dkim.key"]["mode"] == 600
    assert model.files["/var/lib/rspamd/dkim/example.com.dkim.key"]["user"] == "_rspamd"
    assert set(model.groups["_rspamd"]) >= {"redis", "virusgroup"}
    assert not [p for p in model.files if p.startswith("/var/lib/mailguard/pending/")]


def test_drift_is_put_back_and_only_its_service_restarts():
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    key_before = model.files["/var/lib/rspamd/dkim/example.com.dkim.key"]["text"]
    model.files["/etc/rspamd/local.d/multimap.conf"]["text"] += "# hand edit\n"
    model.files["/etc/rspamd/local.d/maps.d/blacklist_sender_email.map"]["text"] += "added@web.ui.example\n"
    ops = by_name(plan(model, SETTINGS, PASSWORDS))
    changed = {name for name, op in ops.items() if op.changes}
    assert changed == {
        "rspamd configuration | rspamd: local.d/multimap.conf",
        "rspamd: rspamd reload pending",
        "Activate | rspamd: check the configuration, then restart (workers, groups) or reload",
    }
    rspamd = ops["Activate | rspamd: check the configuration, then restart (workers, groups) or reload"]
    assert activation_of(rspamd.commands[0]).verb == "reload-or-restart"
    apply(model, list(ops.values()))
    assert "added@web.ui.example" in model.files["/etc/rspamd/local.d/maps.d/blacklist_sender_email.map"]["text"]
    assert model.files["/var/lib/rspamd/dkim/example.com.dkim.key"]["text"] == key_before


def test_a_log_file_emptied_by_its_rotation_is_still_a_file():
    # logrotate's copytruncate leaves clamd's log empty, which stat names "regular empty file": that
    # used to stop the deploy ("exists and is a regular empty file, not a regular file").
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    model.files["/var/log/clamd.scan"]["text"] = ""
    ops = by_name(plan(model, SETTINGS, PASSWORDS))
    assert not any(op.changes for op in ops.values()), [name for name, op in ops.items() if op.changes]
    assert "ClamAV | ClamAV: /var/log/clamd.scan writable by clamscan" in ops


def test_changed_password_rewrites_only_the_controller_and_restarts():
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    ops = by_name(plan(model, SETTINGS, {**PASSWORDS, "RSPAMD_ENABLE_PASSWORD": "another-Pa55word"}))
    changed = {name for name, op in ops.items() if op.changes}
    assert "rspamd configuration | rspamd: local.d/worker-controller.inc (password hashes)" in changed
    rspamd = ops["Activate | rspamd: check the configuration, then restart (workers, groups) or reload"]
    assert activation_of(rspamd.commands[0]).verb == "restart"


def test_existing_dkim_key_is_never_replaced():
    model = HostModel.load("el9", "installed")
    converge(model, SETTINGS, PASSWORDS)
    model.files["/var/lib/rspamd/dkim/example.com.dkim.key"]["mode"] = 644
    ops = by_name(plan(model, SETTINGS, {**PASSWORDS}))
    op = ops["DKIM keys | DKIM: key for example.com (selector dkim)"]
    assert [metadata_set(c) for c in op.commands] == [
        ("/var/lib/rspamd/dkim/example.com.dkim.key", "_rspamd:_rspamd", 600)
    ]


def test_too_little_memory_is_refused_before_anything_is_read_or_changed():
    from operations.preflight import PreflightError

    model = HostModel.load("el9", "installed")
    model.mem_kib, model.swap_kib = 900 * 1024, 0
    with pytest.raises(
        PreflightError, match=r"memory: 0.9 GiB and no swap, but clamd needs about 1.2 GiB.*antivirus = false"
    ):
        plan(model, SETTINGS, PASSWORDS)
    assert model.asked == ["facts.SystemProfile"]
    # Swap, or no antivirus, lets it go on.
    model.swap_kib = 2 * 1024 * 1024
    assert plan(model, SETTINGS, PASSWORDS)
    model.swap_kib = 0
    ops = by_name(plan(model, {**SETTINGS, "antivirus": False}, PASSWORDS))
    assert not any(name.startswith("ClamAV") for name in ops)


def test_below_two_gib_clamd_reloads_without_a_second_database_copy():
    model = HostModel.load("el9", "installed")
    model.mem_kib = int(1.5 * 1024 * 1024)
    ops = by_name(plan(model, SETTINGS, PASSWORDS))
    text = ops["ClamAV | ClamAV: edit /etc/clamd.d/scan.conf"].uploads()["/etc/clamd.d/scan.conf"].decode()
    assert "ConcurrentDatabaseReload no" in text.splitlines()
    roomy = HostModel.load("el9", "installed")
    ops = by_name(plan(roomy, SETTINGS, PASSWORDS))
    text = ops["ClamAV | ClamAV: edit /etc/clamd.d/scan.conf"].uploads()["/etc/clamd.d/scan.conf"].decode()
    assert "ConcurrentDatabaseReload no" not in text.splitlines()


def test_selinux_booleans_are_left_alone_where_selinux_is_disabled():
    model = HostModel.load("el9", "installed")
    model.selinux = "Disabled"
    ops = by_name(plan(model, {**SETTINGS, "webui_proxy": "nginx"}, PASSWORDS))
    assert ops["Web UI | SELinux: httpd_can_network_connect on (nginx reaches rspamd)"].commands == []
    model.selinux = "Enforcing"
    ops = by_name(plan(model, {**SETTINGS, "webui_proxy": "nginx"}, PASSWORDS))
    assert ops["Web UI | SELinux: httpd_can_network_connect on (nginx reaches rspamd)"].commands == [
        "setsebool -P httpd_can_network_connect on"
    ]


def test_restarts_and_reloads_roll_host_by_host_and_the_rest_runs_in_parallel():
    """With several MX hosts, pyinfra runs each activation on one host at a time (``_serial``)."""
    ops = plan(HostModel.load("debian13", "fresh"), SETTINGS, PASSWORDS)
    serial = sorted(op.name for op in ops if op.serial)
    assert serial == sorted(
        op.name for op in ops if op.name.startswith("Activate | ") and "enabled and running" not in op.name
    )
    assert any("rspamd: check the configuration, then restart" in name for name in serial)
    assert len(serial) >= 4 and len(ops) - len(serial) > 50
