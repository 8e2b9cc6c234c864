"""Learning from what users do (issue #17), with a real IMAP client on a real Dovecot.

The shared sandbox gets Dovecot as an admin would have it (IMAP, LMTP from Postfix, Maildir
users: one user, carol, is delivered through it); then the deploy, run again, finds Dovecot and
adds Junk filing and IMAPSieve learning. Python's imaplib moves messages as a mail client does;
rspamd's learned counts are read on the host through the learning socket. Runs on every release:
Debian 12 has Dovecot 2.3, Debian 13 and unstable 2.4.
"""

from __future__ import annotations

import base64
import imaplib
import re
import shlex
import time
from email.message import EmailMessage

import pytest
from support import pyinfra, settings_file

from mailguard import layout
from mailguard.platforms import DEBIAN_12
from operations.learn import HAM_PER_SPAM
from sandbox import dovecot, probes
from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

USER, PASSWORD = "carol", "carol-Imap-Pa55"
REDIS = DEBIAN_12.redis_socket  # the sandbox is Debian: every release of it has the same
FILED: dict[str, str] = {}  # what one test leaves for the next: the tests run in this order
MIN_LEARNS = 3  # rspamd's default of 200, lowered to see Bayes score within the test
# Two vocabularies, so that Bayes has something to tell apart (rspamd needs 11 tokens at least).
SPAM_TEXT = (
    "Exclusive casino bonus: claim your free lottery jackpot winnings now. Cheap pills, instant loans, "
    "guaranteed crypto profits, limited offer, act today, unsubscribe never, winner winner prize."
)
HAM_TEXT = (
    "Minutes of Tuesday's project meeting: the build pipeline passed review, Kenji updates the "
    "deployment notes, and the quarterly report draft is due Friday. Lunch is at the usual place."
)


def learned(target) -> dict[str, int]:
    """rspamd's learned count per class, as it keeps it in Redis (rspamc stat shows a copy it
    refreshes now and then): the learns_spam or learns_ham of every prefix (user) a statfile has."""
    counts = {}
    for symbol, field in (("BAYES_SPAM", "learns_spam"), ("BAYES_HAM", "learns_ham")):
        out = target.sh(
            f"r='redis-cli -s {REDIS}'; for key in $($r SMEMBERS {symbol}_keys); do $r HGET \"$key\" {field}; done"
        )
        counts[symbol] = sum(int(n) for n in out.split() if n.lstrip("-").isdigit())
    return counts


def wait_for(target, expected: dict[str, int], timeout: float = 15) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        now = learned(target)
        if now == expected or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


class Mailbox:
    """A user's mailbox through IMAP, as a mail client sees it."""

    def __init__(self, user: str = USER, password: str = PASSWORD):
        self.imap = imaplib.IMAP4("127.0.0.1", 143)
        self.imap.login(user, password)

    def uid_of(self, folder: str, token: str, timeout: float = 30) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            self.imap.select(f'"{folder}"')
            _typ, data = self.imap.uid("SEARCH", "SUBJECT", token)
            if data and data[0]:
                return data[0].split()[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    def move(self, token: str, source: str, destination: str, copy: bool = False) -> None:
        uid = self.uid_of(source, token)
        assert uid is not None, f"{token} is not in {source}"
        typ, data = self.imap.uid("COPY" if copy else "MOVE", uid, f'"{destination}"')
        assert typ == "OK", data

    def append(self, folder: str, message: EmailMessage) -> None:
        typ, data = self.imap.append(f'"{folder}"', "", imaplib.Time2Internaldate(time.time()), message.as_bytes())
        assert typ == "OK", data

    def headers(self, folder: str, token: str) -> str:
        uid = self.uid_of(folder, token)
        assert uid is not None, f"{token} is not in {folder}"
        _typ, data = self.imap.uid("FETCH", uid, "(BODY.PEEK[HEADER])")
        return data[0][1].decode(errors="replace")


def deliver(target, text: str, sender: str = "news@outside.example.net", helo: str = probes.CLIENT_HELO) -> str:
    msg, token = probes.message(sender, f"{USER}@example.com", text, subject="learning")
    sent = probes.send(target, msg, token, client_ip=probes.EXTERNAL_CLIENT, helo=helo)
    assert sent.accepted, f"SMTP {sent.code} {sent.reply}"
    return token


@pytest.fixture(scope="module")
def with_dovecot(deployed, tmp_path_factory):
    target, env, *_ = deployed
    if env.get("MAIL_HOST"):
        pytest.skip("installs Dovecot and a user: the sandbox only")
    series = dovecot.install(target, USER, PASSWORD)
    path = tmp_path_factory.mktemp("learning") / "settings.toml"
    path.write_text(settings_file().read_text() + f"\nbayes_min_learns = {MIN_LEARNS}\n")
    env = {**env, "MAIL_SETTINGS": str(path)}
    result = pyinfra(env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Dovecot {series}: {layout.DOVECOT_CONF}" in result.stdout + result.stderr
    yield target, env, series, Mailbox()
    dovecot.remove_user(target, USER)


def test_mail_tagged_as_spam_is_filed_into_junk(with_dovecot):
    target, _env, _series, mailbox = with_dovecot
    tagged = deliver(target, "Scores +5 through the maps.", sender="tagged@mixed.example.net", helo=probes.BAND_HELO)
    plain = deliver(target, HAM_TEXT)
    assert mailbox.uid_of("Junk", tagged) is not None
    assert "X-Spam-Flag: YES" in mailbox.headers("Junk", tagged)
    assert mailbox.uid_of("INBOX", plain) is not None and mailbox.uid_of("Junk", plain, timeout=0) is None
    FILED["tagged"] = tagged


def test_moving_into_junk_learns_spam_once(with_dovecot):
    target, _env, _series, mailbox = with_dovecot
    tokens = [deliver(target, SPAM_TEXT) for _ in range(MIN_LEARNS)]
    for token in tokens:
        assert mailbox.uid_of("INBOX", token) is not None
    before = learned(target)
    mailbox.move(tokens[0], "INBOX", "Junk")
    after = wait_for(target, {**before, "BAYES_SPAM": before["BAYES_SPAM"] + 1})
    assert after == {**before, "BAYES_SPAM": before["BAYES_SPAM"] + 1}
    # The same message copied into Junk again: rspamd's learn cache has it, nothing is learned twice.
    mailbox.move(tokens[0], "Junk", "Junk", copy=True)
    time.sleep(3)
    assert learned(target) == after
    for token in tokens[1:]:
        mailbox.move(token, "INBOX", "Junk")
    assert wait_for(target, {**after, "BAYES_SPAM": after["BAYES_SPAM"] + len(tokens) - 1})["BAYES_SPAM"] == (
        after["BAYES_SPAM"] + len(tokens) - 1
    )


def test_moving_out_of_junk_learns_ham_but_into_trash_teaches_nothing(with_dovecot):
    target, _env, _series, mailbox = with_dovecot
    hams = []
    for _ in range(MIN_LEARNS):  # ham that a user finds in Junk (put there without teaching anything)
        msg, token = probes.message("friend@outside.example.net", f"{USER}@example.com", HAM_TEXT, subject="learning")
        mailbox.append("Junk", msg)
        hams.append(token)
    before = learned(target)
    mailbox.move(hams[0], "Junk", "INBOX")
    after = wait_for(target, {**before, "BAYES_HAM": before["BAYES_HAM"] + 1})
    assert after == {**before, "BAYES_HAM": before["BAYES_HAM"] + 1}
    for token in hams[1:]:
        mailbox.move(token, "Junk", "INBOX")
    after = wait_for(target, {**after, "BAYES_HAM": after["BAYES_HAM"] + len(hams) - 1})
    mailbox.imap.create('"Trash"')
    mailbox.move(FILED["tagged"], "Junk", "Trash")
    time.sleep(3)
    assert learned(target) == after


def test_after_enough_learning_similar_spam_scores_as_bayes_spam(with_dovecot):
    target, _env, _series, mailbox = with_dovecot
    counts = learned(target)
    assert counts["BAYES_SPAM"] >= MIN_LEARNS and counts["BAYES_HAM"] >= MIN_LEARNS, counts
    token = deliver(target, SPAM_TEXT.replace("today", "this week"))
    folder = "Junk" if mailbox.uid_of("Junk", token, timeout=5) else "INBOX"
    result = mailbox.headers(folder, token)
    assert "BAYES_SPAM" in result, result
    ham = deliver(target, HAM_TEXT.replace("Friday", "Monday"))
    assert "BAYES_SPAM" not in mailbox.headers("INBOX", ham)


def test_no_password_is_in_any_file_dovecot_or_its_users_can_read(with_dovecot):
    target, env, _series, _mailbox = with_dovecot
    secrets = [env["RSPAMD_CONTROLLER_PASSWORD"], env["RSPAMD_ENABLE_PASSWORD"]]
    readable = base64.b64decode(
        target.sh(f"find /etc/dovecot {layout.LEARN} -type f -perm -o=r -print0 | xargs -0 cat | base64 -w0")
    )
    assert layout.LEARN_SOCKET.encode() in readable and b"mailguard-learn" in readable
    assert not any(secret.encode() in readable for secret in secrets)
    assert target.sh(f"stat -c '%U %a' {layout.LEARN_SOCKET}").split() == ["_rspamd", "600"]


def test_learn_py_learns_what_users_already_have_and_a_rerun_learns_nothing(with_dovecot):
    target, env, _series, _mailbox = with_dovecot
    user, password = "dave", "dave-Imap-Pa55"
    target.sh(
        f"id {user} >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin {user}; echo '{user}:{password}' | chpasswd"
    )
    dave = Mailbox(user, password)
    dave.imap.create('"Junk"')
    for number in range(3):  # spam he filed before the deploy, and more ham than learn.py takes
        msg, _token = probes.message("promo@outside.example.net", f"{user}@example.com", f"{SPAM_TEXT} offer {number}")
        dave.append("Junk", msg)
    for number in range(3 * HAM_PER_SPAM + 2):
        # the oldest, left to the check after the bootstrap: one Bayes takes for spam (he kept it)
        text = f"{SPAM_TEXT} kept" if number == 0 else f"{HAM_TEXT} item {number}"
        msg, _token = probes.message("team@outside.example.net", f"{user}@example.com", text)
        dave.append("INBOX", msg)
    before = learned(target)
    assert min(before.values()) >= MIN_LEARNS, before  # Bayes scores: taught by the tests before
    scanned = f"rspamc -h {layout.LEARN_SOCKET} stat | awk '/^Messages scanned:/ {{print $3}}'"
    scanned_before = target.sh(scanned).strip()
    pattern = (
        r"(\w+) (\S+) as (spam|ham) \((all|errors)\): learned (\d+); skipped (\d+) learned before, "
        r"(\d+) already classified so, (\d+) too short; failed (\d+)"
    )
    runs, counts = [], []
    for _ in range(2):  # the first run, and a rerun
        result = pyinfra(env, "-v", deploy="learn.py")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        output = result.stdout + result.stderr
        said = [line for line in output.splitlines() if " as spam (" in line or " as ham (" in line]
        found = re.findall(pattern, output)
        runs.append(
            ([(u, f, c, w, int(n), int(b) + int(k) + int(s), int(x)) for u, f, c, w, n, b, k, s, x in found], said)
        )
        counts.append(learned(target))
    (first, said), (again, said_again) = runs
    daves = [row for row in first if row[0] == user]
    # 3 spam, and as ham his newest INBOX messages, HAM_PER_SPAM for each, each learned or skipped;
    # then of the 2 left, the one Bayes takes for spam learned as ham, and the other left alone
    assert sorted((f, c, w, n + k, x) for _u, f, c, w, n, k, x in daves) == [
        ("INBOX", "ham", "all", 3 * HAM_PER_SPAM, 0),
        ("INBOX", "ham", "errors", 2, 0),
        ("Junk", "spam", "all", 3, 0),
    ], said
    assert [n for _u, _f, _c, w, n, _k, _x in daves if w == "errors"] == [1], said
    # what it says it learned is what rspamd counts
    for symbol, kind in (("BAYES_SPAM", "spam"), ("BAYES_HAM", "ham")):
        assert counts[0][symbol] - before[symbol] == sum(n for _u, _f, c, _w, n, _k, _x in first if c == kind), said
    assert again and all(n == 0 and x == 0 for _u, _f, _c, _w, n, _k, x in again), said_again  # nothing new
    assert counts[1] == counts[0]
    # asking Bayes about the 2 left is not counted (nor logged) as a scan
    assert scanned_before and target.sh(scanned).strip() == scanned_before
    target.sh(f"userdel -r {user} 2>/dev/null || true")


def test_a_rerun_changes_nothing(with_dovecot):
    _target, env, _series, _mailbox = with_dovecot
    result = pyinfra(env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert changed_operations(result.stdout + result.stderr) == []


# Users another mail system may have (a passwd-file userdb, as virtual users are): learn.py takes
# each name as one argument; a name doveadm would read as a wildcard is said and left alone.
# Dovecot looks such names up only where auth_username_chars is emptied (its default allows
# a-z, digits and .-_@), as an admin with such users has done; it refuses a ' even then.
STRANGE_USERS = ["$(touch canary)@example.com", "-v@example.com", "a b@example.com", "`touch canary`;x@example.com"]
WILDCARD_USER = "every*one@example.com"
USERDB = {
    "2.3": "auth_username_chars =\nuserdb {\n  driver = passwd-file\n  args = /etc/dovecot/strange-users\n}\n",
    "2.4": "auth_username_chars =\nuserdb strange {\n  driver = passwd-file\n"
    "  passwd_file_path = /etc/dovecot/strange-users\n}\n",
}


def test_learn_py_takes_each_strange_user_name_as_it_is(with_dovecot):
    target, env, series, _mailbox = with_dovecot
    users = [*STRANGE_USERS, WILDCARD_USER]
    uid, gid = target.sh(
        "id vmail >/dev/null 2>&1 || useradd -r -M -d /srv/strange -s /usr/sbin/nologin vmail; id -u vmail; id -g vmail"
    ).split()
    lines = [f"{user}::{uid}:{gid}::/srv/strange/{n}::" for n, user in enumerate(users)]
    target.sh(
        f"printf '%s\\n' {' '.join(map(shlex.quote, lines))} > /etc/dovecot/strange-users; "
        f"printf '%s' {shlex.quote(USERDB[series])} > /etc/dovecot/conf.d/99-strange-users.conf; "
        "systemctl reload dovecot"
    )
    try:
        for n, user in enumerate(users):
            quoted = shlex.quote(user)
            spam, ham = (shlex.quote(f"Subject: {n}\n\n{text} {n}\n") for text in (SPAM_TEXT, HAM_TEXT))
            target.sh(
                f"install -d -o vmail -g vmail /srv/strange/{n} && doveadm mailbox create -u {quoted} Junk && "
                f"printf %s {spam} | doveadm save -u {quoted} -m Junk && "
                f"printf %s {ham} | doveadm save -u {quoted} -m INBOX"
            )
        result = pyinfra(env, "-v", deploy="learn.py")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        for user in STRANGE_USERS:
            said = [line for line in output.splitlines() if f"] {user} Junk as spam (all):" in line]
            assert len(said) == 1 and said[0].endswith("failed 0"), (user, output[-3000:])
        assert f"Dovecot user '{WILDCARD_USER}': doveadm would take its * or ? as a wildcard" in output
        assert f"] {WILDCARD_USER} " not in output
        assert target.sh(r"find / -xdev \( -name canary -o -name '*.pwn' \) -print 2>/dev/null | head -3").strip() == ""
    finally:
        target.sh(
            "rm -f /etc/dovecot/conf.d/99-strange-users.conf /etc/dovecot/strange-users; rm -rf /srv/strange; "
            "systemctl reload dovecot"
        )
