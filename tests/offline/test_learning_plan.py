"""Learning from the Junk folder, planned against modelled hosts: Dovecot 2.3 (EL 9) and 2.4
(Debian 13), its absence, Bayes' settings, and the socket that needs no password."""

from __future__ import annotations

import pytest
from hostmodel import HostModel, activation_of, by_name, converge, plan
from support import PASSWORDS, SETTINGS

from mailguard import layout

CONF = f"/etc/dovecot/conf.d/{layout.DOVECOT_CONF}"
CONTROLLER = "/etc/rspamd/local.d/worker-controller.inc"
BAYES = "/etc/rspamd/local.d/classifier-bayes.conf"


def uploads(ops) -> dict[str, str]:
    return {path: data.decode() for op in ops for path, data in op.uploads().items()}


@pytest.mark.parametrize(
    "platform, state, version, series, package",
    [
        ("el9", "installed", "2.3.16", "2.3", "dovecot-pigeonhole"),
        ("debian13", "fresh", "2.4.1-4", "2.4", "dovecot-sieve"),
    ],
)
def test_dovecot_is_configured_in_its_own_syntax(platform, state, version, series, package):
    model = HostModel.load(platform, state)
    model.dovecot = {"version": version}
    ops = by_name(plan(model, SETTINGS, PASSWORDS))
    files = uploads(ops.values())
    conf = files[CONF]
    if series == "2.3":
        assert "imapsieve_mailbox1_name = Junk\n" in conf and "sieve_before = " in conf and "mail_plugins {" not in conf
    else:
        assert 'mailbox "Junk" {' in conf and 'imapsieve_from "Junk" {' in conf and "imapsieve_mailbox1" not in conf
    assert f"executable = script {layout.LEARN}" in conf and "user = _rspamd" in conf
    assert any(package in str(c) for op in ops.values() for c in op.commands)
    assert 'fileinto :create "Junk";' in files[f"{layout.SIEVE_DIR}/junk.sieve"]
    assert '["Trash", "Junk"]' in files[f"{layout.SIEVE_DIR}/learn-ham.sieve"]
    activation = activation_of(
        ops["Activate | Dovecot: doveconf, then reload and compile the Sieve scripts"].commands[0]
    )
    assert activation.check == ("sh", "-c", "<check-dovecot.sh>", "mailguard-check-dovecot", layout.LEARN_SERVICE)
    assert (activation.verb, activation.unit) == ("reload-or-restart", "dovecot")
    assert activation.ready[:2] == ("sievec", "-c")


def test_no_password_reaches_a_file_dovecot_or_its_users_can_read():
    model = HostModel.load("debian13", "fresh")
    model.dovecot = {"version": "2.4.1-4"}
    files = uploads(plan(model, SETTINGS, PASSWORDS))
    readable = {p: t for p, t in files.items() if p.startswith(("/etc/dovecot", layout.LEARN))}
    assert len(readable) == 5
    for secret in PASSWORDS.values():
        assert not any(secret in text for text in readable.values())
    assert f"rspamc -h {layout.LEARN_SOCKET} " in files[layout.LEARN]
    assert f'bind_socket = "{layout.LEARN_SOCKET} mode=0600 owner=_rspamd";' in files[CONTROLLER]


def test_bayes_min_learns_and_autolearn_come_from_the_settings():
    model = HostModel.load("el9", "installed")
    files = uploads(plan(model, {**SETTINGS, "bayes_min_learns": 25, "greylist_score": 18}, PASSWORDS))
    assert "min_learns = 25;" in files[BAYES] and "junk_threshold = 18.0;" in files[BAYES]
    assert "learn_condition" not in files[BAYES].replace("learn_condition (no", "")  # rspamd's own is kept
    off = uploads(plan(HostModel.load("el9", "installed"), {**SETTINGS, "bayes_autolearn": False}, PASSWORDS))
    assert "autolearn = false;" in off[BAYES]


def test_without_dovecot_nothing_of_it_is_planned():
    ops = plan(HostModel.load("el9", "installed"), SETTINGS, PASSWORDS)
    assert not [op.name for op in ops if "Dovecot" in op.name or "dovecot" in op.name]


def test_learning_off_leaves_an_installed_dovecot_alone():
    model = HostModel.load("el9", "installed")
    model.dovecot = {"version": "2.3.16"}
    ops = plan(model, {**SETTINGS, "dovecot_learning": False}, PASSWORDS)
    assert not [op.name for op in ops if "Dovecot" in op.name]


def test_with_dovecot_a_host_converges_and_then_nothing_changes():
    model = HostModel.load("el9", "installed")
    model.dovecot = {"version": "2.3.16"}
    plans = converge(model, SETTINGS, PASSWORDS)
    assert not any(op.changes for op in plans[-1]), [op.name for op in plans[-1] if op.changes]


def test_dovecot_2_3_keeps_an_admins_sieve_plugins_and_extensions_beside_ours():
    model = HostModel.load("el9", "installed")
    model.dovecot = {
        "version": "2.3.16",
        "plugin/sieve_plugins": "sieve_extprograms sieve_ldap",
        "plugin/sieve_global_extensions": "+vnd.dovecot.execute",
    }
    conf = uploads(plan(model, SETTINGS, PASSWORDS))[CONF]
    assert "  sieve_plugins = sieve_extprograms sieve_ldap sieve_imapsieve\n" in conf
    assert "sieve_global_extensions = +vnd.dovecot.execute +vnd.dovecot.pipe +vnd.dovecot.environment\n" in conf
    assert "$sieve" not in conf  # 2.3 knows no such variable for a plugin setting


def _ranges(planned, folder, which):
    return [(int(a[3]), int(a[3]) + int(a[4]) - 1) for _name, a in planned if a[1] == folder and a[5] == which]


@pytest.mark.parametrize(
    "junk, inbox, spam, ham, checked",
    [
        (400, 2050, 400, 1200, 850),  # the quality bench's user: the rest of INBOX checked
        (10, 100_000, 10, 30, 30),  # a large INBOX: checked only as far again
        (5, 12, 5, 12, 0),  # INBOX all learned: nothing left to check
        (30, 20, 20, 20, 0),  # more spam than ham: as much spam as ham
    ],
)
def test_learn_py_learns_every_spam_and_the_newest_ham_then_checks_the_next(junk, inbox, spam, ham, checked):
    from operations.learn import batches

    planned = batches("dave", "Junk", junk, inbox)
    spam_ranges, ham_ranges = _ranges(planned, "Junk", "all"), _ranges(planned, "INBOX", "all")
    errors = _ranges(planned, "INBOX", "errors")
    # each message offered once, from the newest, the counted ranges following each other
    for ranges, end in ((spam_ranges, spam), (ham_ranges, ham), (errors, ham + checked)):
        start = ranges[0][0] if ranges else end + 1
        assert [n for a, b in ranges for n in range(a, b + 1)] == list(range(start, end + 1))
    assert (spam_ranges[0][0], ham_ranges[0][0]) == (1, 1) and (not errors or errors[0][0] == ham + 1)
    assert [sum(b - a + 1 for a, b in r) for r in (spam_ranges, ham_ranges, errors)] == [spam, ham, checked]
    # the classes interleaved, and every bulk batch before the first that learns only Bayes' errors
    kinds = [(a[2], a[5]) for _name, a in planned]
    assert kinds[:2] == [("spam", "all"), ("ham", "all")]
    assert kinds == sorted(kinds, key=lambda k: k[1] == "errors")
    assert all(a[0] == "dave" and name.startswith("Learn dave: ") for name, a in planned)
