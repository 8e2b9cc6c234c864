"""status.py offline: templates/tools/status.sh run under dash and bash with stand-in programs that
answer as the host's would (and with hostile names in ClamAV's directory and in a queued message's
delay reason), and every judgement of mailguard/health*.py on answers made to fail it."""

from __future__ import annotations

import base64
import json
import os

import pytest
from toolrun import HOSTILE, SHELLS, no_canary, run  # noqa: F401  (no_canary: autouse)

from mailguard import dnsbl, health, health_lists, health_mail
from mailguard.health import FAIL, OK, WARN
from operations.commands import script

NOW = 1_800_000_000
FORGED = "x\n@@status milters QUFBQQ==\n@@status end \n"  # a delay reason posing as answers
# what the blocklist probe (dnsbl.PROBE, bash) prints, for its SERVER PORT RBL_CONF NAME...: "not listed"
PROBE = 'shift 3; n=0; for name do echo "@@dnsbl $n rcode=3"; n=$((n + 1)); done'


def programs(tmp_path, *, rspamd="active", milters="inet:localhost:11332", configtest=(0, "syntax OK")):
    """Stand-ins for what status.sh asks, printing a healthy host's answers (or the given ones)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    queue = [
        {
            "queue_name": "deferred",
            "arrival_time": NOW - 7200,
            "recipients": [{"address": "a@b", "delay_reason": FORGED}],
        }
    ]
    answers = {
        "systemctl": f'case "$3" in rspamd) echo {rspamd} ;; *) echo active ;; esac',
        "postconf": f"case \"$*\" in *non_smtpd*) echo '{milters}' ;; *smtpd_milters*) echo '{milters}' ;; "
        "*) echo mail.example.com ;; esac",
        "rspamadm": f'echo "{configtest[1]}"; exit {configtest[0]}',
        # the kernel's socket tables as the host has them; any other file (the counters) is real
        "cat": 'case "$*" in */proc/net/*) printf \'  sl  local_address rem_address   st\\n'
        "   0: 0100007F:2C44 00000000:0000 0A\\n   1: 0100007F:2C46 00000000:0000 0A\\n"
        '   2: 0100007F:0019 0100007F:9C40 01\\n\' ;; *) exec /bin/cat "$@" ;; esac',
        "redis-cli": 'case "$*" in *INFO*) printf "redis_version:7.0.15\\r\\nused_memory:1048576\\r\\n" ;; '
        "*SMEMBERS*) echo RS ;; *learns_spam*) echo 5 ;; *learns_ham*) echo 7 ;; esac",
        "postqueue": f"printf '%s\\n' '{json.dumps(queue)[1:-1]}'",
        "date": f"echo {NOW}",
    }
    for name, body in answers.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


COUNTERS = '{"scanned": 12, "actions": {"add header": 2, "greylist": 1}}'


def status_command(tmp_path, units=("rspamd", "postfix"), counters: str | None = None):
    """status.sh's command; rspamd's counters in a file of their own (or at ``counters``)."""
    stats = tmp_path / "stats.ucl"
    if counters is None and not stats.exists():
        stats.write_text(COUNTERS)
    clamav = tmp_path / "clamav"
    clamav.mkdir(exist_ok=True)
    for name in [*HOSTILE, "daily.cld"]:
        (clamav / name).write_text("")
    os.utime(clamav / "daily.cld", (NOW - 3600, NOW - 3600))
    return script(
        "status", "/run/redis.sock", "/nonexistent", str(clamav), counters or str(stats), str(len(units)), *units,
        PROBE, "127.0.0.153", "53", "/nonexistent", "2.0.0.127.zen.spamhaus.org",
    )  # fmt: skip


@pytest.mark.parametrize("shell", SHELLS)
def test_the_status_read_answers_each_question_as_itself_whatever_a_name_or_a_message_holds(shell, tmp_path):
    output = run(shell, status_command(tmp_path), env=programs(tmp_path)).stdout.decode()
    answers = health.parse(output.splitlines())
    assert health.one(answers, "milters") == "inet:localhost:11332"
    assert answers["unit"] == ["rspamd active", "postfix active"]
    queued = json.loads(health.one(answers, "queue"))
    assert queued["recipients"][0]["delay_reason"] == FORGED  # inside its own answer, as itself
    assert len(answers["end"]) == 1 and len(answers["milters"]) == 1
    stamps = health.one(answers, "signatures").splitlines()  # mtimes only: no name can add a fresher one
    assert f"{NOW - 3600}.0000000000" in stamps and len(stamps) == 2  # daily.cld and the one hostile .cvd name
    assert (health.one(answers, "learned-spam"), health.one(answers, "learned-ham")) == ("5", "7")
    assert health_lists.dnsbl_answers(answers) == {"0": "rcode=3"}


def judged(tmp_path, **changes) -> dict[str, list]:
    output = run("dash", status_command(tmp_path), env=programs(tmp_path, **changes)).stdout.decode()
    answers = health.parse(output.splitlines())
    found = [
        *health.services(answers, {"rspamd": "rspamd", "postfix": "Postfix"}),
        health.milter(answers, "inet:localhost:11332"),
        health.rspamd_ports(answers, 11332, 11334),
        health.configtest(answers),
        health.signatures(answers, True),
        health.redis(answers),
        health_mail.bayes(answers, 200),
        health_mail.queue(answers),
        health_mail.traffic(health_mail.counters(answers), [], NOW),
        health_mail.helo(answers, "mail.example.com"),
    ]
    by_name: dict[str, list] = {}
    for check in found:
        by_name.setdefault(check.name, []).append(check)
    return by_name


def test_a_healthy_host_is_all_ok_but_the_deferred_message(tmp_path):
    checks = judged(tmp_path)
    assert {n: [c.status for c in cs] for n, cs in checks.items() if n != "queue"} == {
        "service": [OK, OK],
        "milter": [OK],
        "rspamd": [OK],
        "configtest": [OK],
        "signatures": [OK],
        "redis": [OK],
        "bayes": [OK],
        "traffic": [OK],
        "helo": [OK],
    }
    (queue,) = checks["queue"]
    assert queue.status == WARN and "1 deferred" in queue.detail.en and "2.0 h" in queue.detail.en
    assert "scanned 12 messages since its counters began: 2 spam, 1 greylisted" in checks["traffic"][0].detail.en
    assert [c.detail.en for c in checks["rspamd"]] == [
        "rspamd listens on its milter (11332) and controller (11334) ports"
    ]  # read from the kernel's table: 0x2C44 and 0x2C46 in state 0A, not the connection in state 01
    assert "does not score yet: it learned 5 spam and 7 ham of the 200" in checks["bayes"][0].detail.en


@pytest.mark.parametrize(
    "change, name, status",
    [
        ({"rspamd": "failed"}, "service", FAIL),
        ({"milters": "inet:localhost:8891"}, "milter", FAIL),
        ({"configtest": (1, "bad.conf: syntax error")}, "configtest", FAIL),
        ({"configtest": (0, "a warning")}, "configtest", WARN),
    ],
    ids=["rspamd stopped", "milter removed", "configtest fails", "configtest warns"],
)
def test_each_fault_is_the_check_s_failure_with_a_fix(tmp_path, change, name, status):
    checks = judged(tmp_path, **change)
    worst = max(checks[name], key=lambda c: health.EXIT_CODES[c.status])
    assert worst.status == status and worst.fix is not None
    assert health.exit_code([c for cs in checks.values() for c in cs]) == health.EXIT_CODES[status]


def test_old_signatures_warn_then_fail():
    day = 86400
    for age, status in ((1 * day, OK), (3 * day, WARN), (8 * day, FAIL)):
        answers = {"now": [str(NOW)], "signatures": [f"{NOW - age}.0000000000"]}
        assert health.signatures(answers, True).status == status
    assert health.signatures({"now": [str(NOW)], "signatures": [""]}, True).status == FAIL
    assert health.signatures({}, False) is None


def test_this_server_listed_on_a_blocklist_fails_and_a_refused_lookup_warns():
    first = len(dnsbl.BLOCKLISTS)
    names = health_lists.listing_names("192.0.2.25", dqs=False)
    assert names[0] == "25.2.0.192.zen.spamhaus.org"
    listed = health_lists.listed({str(first): "rcode=0 127.0.0.2", str(first + 1): "rcode=3"}, first, "192.0.2.25")
    assert [c.status for c in listed] == [FAIL, OK]
    refused = health_lists.listed({str(first): "rcode=0 127.255.255.254"}, first, "192.0.2.25")
    assert refused[0].status == WARN


def test_a_status_read_that_is_cut_short_or_forged_is_an_error():
    with pytest.raises(health.AnswerError):
        health.parse(["@@status milters QUFBQQ=="])  # no end
    with pytest.raises(health.AnswerError):
        health.parse(["milters inet:localhost:11332", "@@status end "])
    with pytest.raises(health.AnswerError):
        health.parse(["@@status milters not-base64!", "@@status end "])


def test_the_lines_are_japanese_where_the_locale_asks():
    assert health.language({"LANG": "ja_JP.UTF-8"}) == "ja"
    assert health.language({"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}) == "en"
    check = health_mail.helo({"helo": ["localhost"]}, "mail.example.com")
    assert check.status == WARN
    assert "HELO" in check.line("ja") and "対処" in check.line("ja") and "fix:" in check.line("en")
    assert check.as_json("en")["fix"].startswith("postconf -e myhostname=mail.example.com")


@pytest.mark.parametrize("shell", SHELLS)
def test_rspamd_s_counters_are_never_read_through_a_link_planted_beside_them(shell, tmp_path):
    """rspamd's DBDIR is _rspamd's: a link there to a root-only file is not followed."""
    secret = tmp_path / "root-only"
    secret.write_text('{"scanned": 999, "root": "secret"}')
    planted = tmp_path / "planted-stats.ucl"
    planted.symlink_to(secret)
    output = run(shell, status_command(tmp_path, counters=str(planted)), env=programs(tmp_path)).stdout.decode()
    assert health.one(health.parse(output.splitlines()), "counters") == ""
    assert "secret" not in output and base64.b64encode(b"secret").decode()[:6] not in output


def test_the_days_counts_are_the_difference_from_a_reading_a_day_old():
    day, now = health_mail.DAY, NOW
    earlier = [[now - 3 * day, 1, 0, 0], [now - day - 60, 100, 10, 5], [now - 3600, 190, 19, 9]]
    check = health_mail.traffic((200, 20, 10), earlier, now)
    assert "scanned 100 messages in the last 24 h: 10 spam, 5 greylisted" in check.detail.en
    assert "直近 24 時間" in check.detail.ja
    # no reading a day old: since the oldest, hours said
    assert "in the last 1 h:" in health_mail.traffic((200, 20, 10), earlier[2:], now).detail.en
    # the counters began again (rspamd's stats.ucl lost): no reading above them is a base
    assert "since its counters began" in health_mail.traffic((5, 0, 0), earlier[1:], now).detail.en


def test_readings_this_controller_did_not_sign_are_not_used(tmp_path, monkeypatch):
    from operations import remembered

    monkeypatch.setenv("MAILGUARD_CACHE_DIR", str(tmp_path))
    target = type("Target", (), {"name": "mx1"})()  # only a host's name is read
    key = remembered.memory_key()
    remembered.remember_reading(target, key, [NOW - 90000, 100, 10, 5])
    assert remembered.recall_readings(target, key) == [[NOW - 90000, 100, 10, 5]]
    (kept,) = tmp_path.glob("counters-*.json")
    kept.write_text(kept.read_text().replace("100", "1"))  # another user's edit
    assert remembered.recall_readings(target, key) == []
