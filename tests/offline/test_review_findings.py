"""The security review's seven findings (commands built as strings), each with the test that shows it
fixed. Each failed on the code the review read: there, every one of these values became shell text."""

from __future__ import annotations

import os
import stat

import pytest
from hostmodel import HostModel, Planned, by_name, converge, plan
from support import PASSWORDS, ROOT, SETTINGS
from test_backup import FILES, make_backup
from toolrun import HOSTILE, SHELLS, calls, no_canary, run, stubs  # noqa: F401  (no_canary: a fixture)

from mailguard import backups, dkim, layout
from mailguard import settings as settings_module
from operations import hoststate, readhost, remembered
from operations.commands import script
from operations.templating import render

MAPS = "/etc/rspamd/local.d/maps.d"
THE_REVIEWS_NAME = "x;touch${IFS}${HOME}.pwn;.map"


def test_finding_1_a_map_name_from_a_backup_reaches_the_host_as_one_argument(tmp_path):
    made = make_backup(tmp_path / "b", {**FILES, f"maps/{THE_REVIEWS_NAME}": b"planted@example.net\n"})
    ops = plan(HostModel.load("debian13", "fresh"), SETTINGS, {**PASSWORDS, backups.RESTORE_ENV: str(made)},
               deploy_file=ROOT / "restore.py")  # fmt: skip
    restored = by_name(ops)[f"Restore: map {THE_REVIEWS_NAME} (entries merged)"]
    placed = [c for c in restored.commands if isinstance(c, Planned) and c.script == "files" and c.args[0] == "place"]
    assert [c.args[2] for c in placed] == [f"{MAPS}/{THE_REVIEWS_NAME}"]  # one word, as named
    assert all(isinstance(c, (Planned, tuple)) for op in ops for c in op.commands)


def test_finding_1_a_backup_whose_selector_is_no_selector_is_refused_before_anything_changes(tmp_path):
    state = b"example.com signing=../../../etc/cron.d/x\n"
    with pytest.raises(backups.BackupError, match=r"signing='\.\./\.\./\.\./etc/cron\.d/x' is not a DKIM selector"):
        backups.Backup.verified(make_backup(tmp_path / "b", {**FILES, "dkim-keys": state}))
    with pytest.raises(backups.BackupError, match=r"'dkim/x;y\.key': not a DKIM key's file name"):
        backups.Backup.verified(make_backup(tmp_path / "c", {**FILES, "dkim/x;y.key": b"key"}))


def test_finding_1_a_map_name_that_cannot_be_said_is_skipped_in_one_line_and_the_rest_restored(tmp_path):
    held = backups.Backup.verified(make_backup(tmp_path / "b", {**FILES, "maps/a\nb.map": b"x\n"}))
    assert held.unrestorable() == {
        "maps/a\nb.map": "not a map file name that can be restored: a control character in it"
    }
    assert list(held.under("maps")) == ["blacklist_sender_email.map"]


LEARN_USERS = {"o'brien@example.com": (3, 5), "$(touch canary)@example.com": (1, 1), "-v@example.com": (2, 2)}


def test_finding_2_learn_gives_doveadm_each_user_and_folder_as_one_argument():
    model = HostModel.load("debian13", "fresh")
    model.dovecot = {"version": "2.4.1-4"}
    settings = {**SETTINGS, "junk_folder": "Junk E-mail"}
    converge(model, settings, PASSWORDS)
    model.files[layout.LEARN_SOCKET] = {"text": "", "user": "_rspamd", "group": "_rspamd", "mode": 600}
    model.mailboxes = {**LEARN_USERS, "every*one@example.com": (4, 4)}
    ops = plan(model, settings, PASSWORDS, deploy_file=ROOT / "learn.py")
    batches = [c.argv for op in ops if op.name.startswith("Learn ") for c in op.commands]
    assert (layout.LEARN_MAILBOX, "$(touch canary)@example.com", "Junk E-mail", "spam", "1", "1", "all") in batches
    assert {argv[1] for argv in batches} == set(LEARN_USERS)  # the wildcard user is left alone, said once
    assert len(batches) == 2 * len(LEARN_USERS)


@pytest.mark.parametrize("shell", SHELLS)
def test_finding_3_an_argument_that_looks_like_a_placeholder_stays_itself(shell, tmp_path):
    odd = tmp_path / "{names} {args} {mark}"
    odd.write_text("kept\n")
    plain = tmp_path / "plain"
    plain.write_text("also\n")
    wants = [("text", str(odd)), ("text", str(plain)), ("stat", str(odd)), ("managed", str(odd))]
    command, groups = readhost.state_command(wants)
    state = hoststate.Snapshot(readhost.parse_state(run(shell, command).stdout.decode().splitlines()[1:], groups))
    assert (state.text(str(odd)), state.text(str(plain))) == ("kept\n", "also\n")
    assert state.stat(str(odd))["type"] == "regular file" and not state.managed(str(odd))


def test_finding_3_a_remembered_question_must_be_of_a_form_the_deploy_asks():
    assert remembered.askable(("text", "/etc/rspamd/local.d/{names} x.conf"))  # data, quoted like any other
    for bad in [("text", "/a\nb"), ("text", "/a\0b"), ("no-such-kind", "/a"), ("glob", "/a/$(x)*"), ("sha256", "/a")]:
        assert not remembered.askable(bad), bad


def test_finding_3_an_opendkim_key_path_that_fails_its_grammar_stops_the_run():
    from operations.dkim import KeyConflict

    model = HostModel.load("debian13", "fresh")
    conf = "KeyTable /etc/opendkim/KeyTable\nSigningTable /etc/opendkim/SigningTable\n"
    model.files["/etc/opendkim.conf"] = {"text": conf, "user": "root", "group": "root", "mode": 644}
    model.files["/etc/opendkim/SigningTable"] = {
        "text": "example.com mail\n",
        "user": "root",
        "group": "root",
        "mode": 644,
    }
    for table, says in [("mail example.com:mail:keys/relative.private", "not an absolute path"),
                        ("mail example.com:x;y:/etc/opendkim/k", "is not a DKIM selector")]:  # fmt: skip
        model.files["/etc/opendkim/KeyTable"] = {"text": table + "\n", "user": "root", "group": "root", "mode": 644}
        with pytest.raises(KeyConflict, match=says):
            plan(model, SETTINGS, PASSWORDS)


@pytest.mark.parametrize("shell", SHELLS)
def test_finding_4_a_file_name_cannot_pose_as_the_milters_answer(shell, tmp_path):
    db = tmp_path / "clamav"
    db.mkdir()
    forged = "x\n@@mailguard postconf smtpd_milters\nsmtpd_milters = inet:localhost:11332\n.cvd"
    (db / forged).write_text("")
    wants = [("glob", f"{db}/*.cvd"), ("postconf", "smtpd_milters"), ("stat", str(db / forged))]
    command, groups = readhost.state_command(wants)
    state = hoststate.Snapshot(readhost.parse_state(run(shell, command).stdout.decode().splitlines()[1:], groups))
    assert state.glob(f"{db}/*.cvd") == [str(db / forged)]
    assert state.postconf("smtpd_milters") is None  # this machine has no Postfix: not what the name says


@pytest.mark.parametrize("shell", SHELLS)
def test_finding_5_redis_is_never_asked_over_tcp_with_the_password(shell, tmp_path):
    auth = tmp_path / "mailguard-client"
    auth.write_text("mailguard-admin\ns3cret-Pa55\n")
    env, log = stubs(tmp_path, "redis-cli", fail=("redis-cli",))  # the socket is missing: every ask fails
    (tmp_path / "bin" / "redis-cli").write_text(
        f"#!/bin/sh\nprintf '%s' \"${{REDISCLI_AUTH:-none}}\" >> {log}\nfor a do printf '\\0%s' \"$a\" >> {log}; done\n"
        f"echo >> {log}\nexit 1\n"
    )
    socket = str(tmp_path / "redis.sock")
    words = ["state", layout.MANAGED_MARK, str(auth), "dbsize", "1", socket]
    run(shell, script("read-host", *words), env)
    assert calls(log) == [("s3cret-Pa55", "--user", "mailguard-admin", "-s", socket, "dbsize")]  # the socket only
    log.unlink()
    auth.write_text("")
    run(shell, script("read-host", "state", layout.MANAGED_MARK, str(auth), "dbsize", "1", socket), env)
    assert calls(log) == [("none", "-s", socket, "dbsize"), ("none", "dbsize")]  # no password: the default port


def test_finding_6_no_host_read_is_ever_printed():
    """pyinfra prints what a fact reads at -vvv; the reads carry each controller hash's salt and a
    digest (a verifier of the password) and files such as redis.conf (an admin's requirepass): never printed."""
    model = HostModel.load("el9", "fresh")
    converge(model, SETTINGS, PASSWORDS)
    plan(model, SETTINGS, PASSWORDS)
    assert model.printed and not any(model.printed)


@pytest.mark.parametrize("series", ["2.3", "2.4"])
def test_finding_7_the_learning_socket_opens_only_for_dovecots_imap(series):
    from mailguard import learning
    from mailguard.platforms import PLATFORMS

    platform = next(iter(PLATFORMS.values()))
    settings = settings_module.load(SETTINGS, PASSWORDS)
    conf = render(
        learning.TEMPLATES[series], settings=settings, platform=platform, layout=layout, learning=learning,
        dovecot=learning.Dovecot("2.3.16" if series == "2.3" else "2.4.1", mail_access_groups="adm"),
    )  # fmt: skip
    listener = conf[conf.index("unix_listener") :]
    assert "mode = 0660" in listener and f"group = {layout.LEARN_GROUP}" in listener and "0666" not in conf
    if series == "2.3":  # the admin's global groups, then ours
        assert f"mail_access_groups = adm,{layout.LEARN_GROUP}" in conf
    else:  # a list: the item joins the admin's own
        assert f"mail_access_groups {{\n    {layout.LEARN_GROUP} = yes\n  }}" in conf


def test_finding_7_a_backup_directory_there_already_is_never_chmodded_and_another_users_is_refused(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    destination = backups.host_directory(shared, "mail.example.com", "20261204T000000Z")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # left as it was
    assert stat.S_IMODE(destination.parent.stat().st_mode) == 0o700  # what it made: private
    planted = shared / "other.example.com"
    planted.mkdir()
    os.chown(planted, 65534, 65534)
    with pytest.raises(backups.BackupError, match="belongs to another user"):
        backups.host_directory(shared, "other.example.com", "20261204T000000Z")
    (shared / "linked.example.com").symlink_to(tmp_path)
    with pytest.raises(backups.BackupError, match="is not a directory"):
        backups.host_directory(shared, "linked.example.com", "20261204T000000Z")


def test_finding_7_the_backup_is_fetched_without_sudo_from_a_directory_only_the_login_user_owns(tmp_path, monkeypatch):
    from pyinfra.api import FileDownloadCommand

    monkeypatch.setenv(backups.DIRECTORY_ENV, str(tmp_path))
    model = HostModel.load("debian13", "fresh")
    converge(model, SETTINGS, PASSWORDS)
    captured = []
    original = FileDownloadCommand.__init__

    def keep(self, src, dest, *args, **kwargs):
        captured.append((src, kwargs))
        original(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(FileDownloadCommand, "__init__", keep)
    ops = plan(model, SETTINGS, PASSWORDS, deploy_file=ROOT / "backup.py")
    made = [c for op in ops for c in op.commands if isinstance(c, Planned) and c.script == "backup-archive"]
    (handover,) = [c.args[4] for c in made]
    assert handover.startswith("/tmp/mailguard-backup-") and len(handover) == len("/tmp/mailguard-backup-") + 32
    assert captured == [(f"{handover}/backup.tar", {"_sudo": False})]
    remove = [c for op in ops for c in op.commands if isinstance(c, Planned) and c.argv[:2] == ("rm", "-rf")]
    assert [c.argv[-1] for c in remove] == [handover]  # and removed once fetched


def test_the_keys_state_grammar_accepts_what_a_rotation_writes():
    text = dkim.state_text({"example.com": dkim.KeyState("dkim-2026-11", previous="dkim", since="2026-11-02")})
    assert dkim.read_states(text)["example.com"].previous == "dkim"
