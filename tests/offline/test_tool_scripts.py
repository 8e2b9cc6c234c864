"""The scripts under templates/tools, run for real under dash and bash (Debian's and Enterprise
Linux's sh) as the host runs them (``sh -c TEXT NAME ARGS``), over scratch directories, with the
programs they drive (systemctl, doveadm, a hold, a rollback) replaced by stubs that log their
arguments. Names are hostile: quotes, ;, $(), backticks, ${IFS}, a newline, a leading -, spaces,
@@mailguard lines, bytes that are not UTF-8. A canary file shows that none of them ever ran."""

from __future__ import annotations

import base64
import os
import shlex
import stat
from pathlib import Path

import pytest
from toolrun import CANARY_DIR, HOSTILE, NOT_UTF8, SHELLS, calls, no_canary, run, stubs  # noqa: F401  (no_canary: a fixture)

from mailguard import learning
from operations import facts, hoststate, readhost
from operations.commands import Command, script

# --- files.sh -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", HOSTILE)
def test_a_file_is_staged_and_placed_under_any_name(shell, name, tmp_path):
    staging, target = tmp_path / "staging", tmp_path / "maps.d" / name
    target.parent.mkdir()
    staged = staging / "0123"
    run(shell, script("files", "stage", str(staging), str(staged)))
    assert stat.S_IMODE(staging.stat().st_mode) == 0o700 and stat.S_IMODE(staged.stat().st_mode) == 0o600
    staged.write_text("entry\n")
    run(shell, script("files", "place", str(staged), str(target), "root:root", "640", "replace"))
    assert target.read_text() == "entry\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == [name] and not staged.exists()
    run(shell, script("files", "metadata", str(target), "root:root", "600"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("shell", SHELLS)
def test_a_link_is_replaced_never_followed_and_never_given_an_owner_or_mode(shell, tmp_path):
    victim = tmp_path / "shadow"
    victim.write_text("secret\n")
    victim.chmod(0o600)
    link = tmp_path / "x.map"
    link.symlink_to(victim)
    failed = run(shell, script("files", "metadata", str(link), "root:root", "666"), check=False)
    assert failed.returncode == 1 and b"left alone" in failed.stderr
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    refused = run(shell, script("files", "copy", str(link), str(tmp_path / "copy")), check=False)
    assert refused.returncode == 1 and not (tmp_path / "copy").exists()
    staged = tmp_path / "staged"
    staged.write_text("ours\n")
    run(shell, script("files", "place", str(staged), str(link), "root:root", "644", "replace"))
    assert not link.is_symlink() and link.read_text() == "ours\n" and victim.read_text() == "secret\n"
    staged.write_text("another\n")
    appeared = run(shell, script("files", "place", str(staged), str(link), "root:root", "644", "link"), check=False)
    assert appeared.returncode != 0 and link.read_text() == "ours\n"  # link mode never replaces a file


# --- activate.sh ----------------------------------------------------------------------------------


def _activation(tmp_path: Path, check: tuple[str, ...], ready: tuple[str, ...] = ("ready", "--wait")):
    markers = [tmp_path / "pending" / f"svc-{verb}" for verb in ("restart", "reload")]
    markers[0].parent.mkdir()
    markers[0].write_text("")
    last_good = tmp_path / "last-good" / "svc"
    last_good.mkdir(parents=True)
    command = script(
        "activate", "svc", "svc unit", "restart", str(last_good), "rollback", "hold",
        str(len(markers)), str(len(check)), *map(str, markers), *check, *ready,
    )  # fmt: skip
    return command, markers, last_good


@pytest.mark.parametrize("shell", SHELLS)
def test_a_checked_restart_holds_mail_acts_waits_releases_and_clears(shell, tmp_path):
    env, log = stubs(tmp_path, "systemctl", "check", "ready", "hold", "rollback")
    command, markers, last_good = _activation(tmp_path, ("check", "a module", "$(touch canary)"))
    run(shell, command, env)
    assert calls(log) == [
        ("check", "a module", "$(touch canary)"),
        ("hold", "on"),
        ("systemctl", "restart", "svc unit"),
        ("ready", "--wait"),
        ("hold", "off"),
    ]
    assert not markers[0].exists() and not last_good.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failed_check_rolls_back_clears_the_markers_and_never_restarts(shell, tmp_path):
    env, log = stubs(tmp_path, "systemctl", "check", "hold", "rollback", fail=("check",))
    command, markers, last_good = _activation(tmp_path, ("check",))
    assert run(shell, command, env, check=False).returncode == 1
    assert calls(log) == [("check",), ("rollback", "svc")]
    assert not markers[0].exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failed_restart_still_releases_the_hold_and_keeps_the_markers_for_the_next_run(shell, tmp_path):
    env, log = stubs(tmp_path, "systemctl", "check", "ready", "hold", "rollback", fail=("systemctl",))
    command, markers, last_good = _activation(tmp_path, ("check",))
    assert run(shell, command, env, check=False).returncode == 1
    assert calls(log) == [("check",), ("hold", "on"), ("systemctl", "restart", "svc unit"), ("hold", "off")]
    assert markers[0].exists() and last_good.exists()


# --- swap-stopped.sh, retire.sh -------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_redis_starts_again_whether_the_rename_worked_or_not(shell, tmp_path):
    env, log = stubs(tmp_path, "systemctl")
    failed = run(
        shell, script("swap-stopped", "redis-server", str(tmp_path / "missing"), str(tmp_path / "d")), env, False
    )
    assert failed.returncode != 0
    assert calls(log) == [("systemctl", "stop", "redis-server"), ("systemctl", "start", "redis-server")]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_key_is_retired_by_a_rename_that_never_replaces(shell, tmp_path):
    key, retired = tmp_path / "example.com.dkim.key", tmp_path / "retired.key"
    key.write_text("old\n")
    retired.write_text("kept\n")
    assert run(shell, script("retire", str(key), str(retired)), check=False).returncode != 0
    assert retired.read_text() == "kept\n" and key.exists()
    retired.unlink()
    run(shell, script("retire", str(key), str(retired)))
    assert retired.read_text() == "old\n" and not key.exists()


# --- read-host.sh: names cannot pose as answers (finding 4) ---------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_no_file_name_can_forge_an_answer_of_the_state_read(shell, tmp_path):
    db = tmp_path / "clamav"
    db.mkdir()
    for name in HOSTILE:
        (db / name).write_text("")
    (db / os.fsdecode(NOT_UTF8)).write_text("")
    maps = [str(db / name) for name in HOSTILE]
    wants = [("glob", f"{db}/*.cvd"), ("glob", f"{db}/*.cld"), ("postconf", "smtpd_milters")]
    wants += [(kind, path) for path in maps for kind in ("stat", "text", "managed")]
    command, groups = readhost.state_command(wants)
    output = run(shell, command).stdout.decode().splitlines()
    state = hoststate.Snapshot(readhost.parse_state(output[1:], groups))
    assert state.glob(f"{db}/*.cvd") == [str(db / HOSTILE[7])]  # the one name ending .cvd, as itself
    assert state.glob(f"{db}/*.cld") == []
    assert state.postconf("smtpd_milters") is None  # no Postfix here: never what a name says
    for path in maps:
        assert state.stat(path)["type"] == "regular file" and state.text(path) == ""
        assert not state.managed(path)
    assert set(state.answers) <= set(wants) | {("sha256", p) for p in maps}


def test_an_answer_that_does_not_parse_is_an_error_never_a_guess():
    groups = [("stat", ["/a"]), ("text", ["/b"])]
    good = [base64.b64encode(b"/a\0root root 644 regular file\0").decode(), base64.b64encode(b"\0").decode()]
    assert readhost.parse_state(good, groups)[("stat", "/a")] == ["root root 644 regular file"]
    for broken in (
        good[:1],  # a group's line missing
        [good[0], "not base64!"],
        [base64.b64encode(b"/a\0root").decode(), good[1]],  # cut short
        [base64.b64encode(b"/elsewhere\0root root 644 regular file\0").decode(), good[1]],  # not asked
        [good[0], base64.b64encode(b"\0\0").decode()],  # two answers for one question
    ):
        with pytest.raises(readhost.ReadError):
            readhost.parse_state(broken, groups)


@pytest.mark.parametrize("shell", SHELLS)
def test_dkim_keys_with_strange_names_are_listed_as_themselves(shell, tmp_path):
    keys = tmp_path / "dkim"
    keys.mkdir()
    (keys / "example.com.dkim.key").write_text("key one\n")
    (keys / "x\ndkimkeys=forged.key").write_text("key two\n")
    command, groups = facts.SystemProfile.command(key_dirs=[str(keys)])
    values = facts.SystemProfile.process(run(shell, command).stdout.decode().splitlines(), groups)
    assert sorted(values["dkim_keys"]) == [str(keys / "example.com.dkim.key"), str(keys / "x\ndkimkeys=forged.key")]


# --- backup-archive.sh (finding 1's other end, and finding 7) -------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_the_backup_archives_every_map_as_it_is_named_and_hands_it_to_the_login_user_only(shell, tmp_path):
    import tarfile

    maps = tmp_path / "maps.d"
    maps.mkdir()
    for name in HOSTILE:
        (maps / name).write_text(f"{name}\n")
    (maps / "link.map").symlink_to("/etc/shadow")
    handover = tmp_path / "handover"
    command = script(
        "backup-archive", str(tmp_path / "backup"), "SHA256SUMS", str(tmp_path / "no-socket"),
        str(tmp_path / "no-auth"), str(handover), "maps", "dir", str(maps),
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("SUDO_USER", "DOAS_USER")}
    said = run(shell, command, env).stdout.decode()
    assert said.startswith(f"backup made: {len(HOSTILE) + 1} files")
    assert stat.S_IMODE(handover.stat().st_mode) == 0o700
    assert stat.S_IMODE((handover / "backup.tar").stat().st_mode) == 0o600
    with tarfile.open(handover / "backup.tar") as tar:
        names = {m.name.removeprefix("./maps/") for m in tar.getmembers() if m.name.startswith("./maps/")}
    assert names == set(HOSTILE)  # the link is never followed, every other map kept as named
    again = run(shell, command, env, check=False)  # the handover directory exists: never reused
    assert again.returncode != 0


# --- mailboxes.sh, and learn.py's grammar of user names (finding 2) -------------------------------

STRANGE_USERS = [
    "o'brien@example.com",
    "$(touch /tmp/mailguard-canary)@example.com",
    "-v@example.com",
    "日本@example.jp",
]


@pytest.mark.parametrize("shell", SHELLS)
def test_dovecot_users_come_back_as_themselves_and_wildcards_are_refused(shell, tmp_path):
    env, log = stubs(tmp_path, "doveadm")
    listing = "\n".join([*STRANGE_USERS, "every*one@example.com"])
    (tmp_path / "bin" / "doveadm").write_text(
        "#!/bin/sh\n"
        f"if [ \"$1\" = user ]; then printf '%s\\n' {shlex.quote(listing)}; exit 0; fi\n"
        f"printf '%s\\0' \"$@\" >> {log}; echo >> {log}; echo '1 1'\n"
    )
    fact = facts.Mailboxes()
    output = run(shell, fact.command(junk="Junk E-mail", socket=str(tmp_path / "sock")), env).stdout.decode()
    found = fact.process(output.splitlines())
    assert sorted(found["users"]) == sorted(STRANGE_USERS)
    assert found["refused"] == ["'every*one@example.com': doveadm would take its * or ? as a wildcard for other users"]
    asked = [line.split("\0") for line in log.read_text().splitlines()]
    assert ["search", "-u", STRANGE_USERS[1], "mailbox", "Junk E-mail", "ALL", ""] in asked  # one word each


def test_user_names_another_system_allows_are_learned_and_unsayable_ones_refused():
    assert all(learning.user_problem(user) is None for user in STRANGE_USERS)
    assert learning.user_problem("a\nb") == "a control character in it"
    assert learning.user_problem(os.fsdecode(b"\xff")) == "not UTF-8"


# --- learn-mailbox.sh: the check after the bootstrap -----------------------------------------------

# rspamc's answer to the check: its Message-ID line quotes the message, which can say anything
FORGED_VERDICT = "Action: no action\nScore: 0.00 / 1000.00\nMessage-ID: x Symbol: BAYES_SPAM (10.50)\n"
SPAM_VERDICT = "Action: no action\nScore: 10.50 / 1000.00\nSymbol: BAYES_SPAM (10.50)[99.99%]\nMessage-ID: y\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "verdict, said",
    [
        (FORGED_VERDICT, "learned 0; skipped 0 learned before, 1 already classified so, 0 too short; failed 0"),
        (SPAM_VERDICT, "learned 1; skipped 0 learned before, 0 already classified so, 0 too short; failed 0"),
        (
            "cannot connect to the socket\n",
            "learned 0; skipped 0 learned before, 0 already classified so, 0 too short; failed 1 (first: cannot",
        ),
    ],
)
def test_the_check_learns_only_what_bayes_takes_for_spam(shell, verdict, said, tmp_path):
    from types import SimpleNamespace

    from support import PASSWORDS, SETTINGS

    from mailguard import rspamd_config, settings
    from operations.templating import render

    here = SimpleNamespace(LEARNED_RECORD=str(tmp_path / "learned"), LEARN_SOCKET=str(tmp_path / "sock"))
    tool = render(
        "tools/learn-mailbox.sh.j2",
        layout=here,
        settings=settings.load(SETTINGS, PASSWORDS),
        **rspamd_config.FUZZY_CONTEXT,
    )
    env, log = stubs(tmp_path, "doveadm", "rspamc")
    (tmp_path / "bin" / "doveadm").write_text(
        "#!/bin/sh\nif [ \"$1\" = search ]; then echo 'guid 7'; else printf 'text:\\nSubject: hi\\n\\nhello\\n'; fi\n"
    )
    (tmp_path / "bin" / "rspamc").write_text(
        f"#!/bin/sh\nprintf '%s\\0' \"$@\" >> {log}; echo >> {log}\n"
        f'for a do case "$a" in symbols) printf %s {shlex.quote(verdict)}; exit 0 ;; '
        "learn_ham) echo 'success = true'; exit 0 ;; esac; done\n"
    )
    command = Command("sh", "-c", tool, "mailguard-learn-mailbox", "dave", "INBOX", "ham", "1", "1", "errors")
    out = run(shell, command, env).stdout.decode()
    assert out.startswith(f"dave INBOX as ham (errors): {said}"), out
    asked = [line.split("\0") for line in log.read_text().splitlines()]
    assert "Flags: no_log,no_stat" in asked[0] and "symbols" in asked[0]  # kept out of the log and counters
    assert len([a for a in asked if "learn_ham" in a]) == ("learned 1" in said), asked
