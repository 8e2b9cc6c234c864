"""Filtering quality kept under test (issue #39): the quick quality bench on the shared sandbox.

One fold of the allowed corpus (bench/corpus.py: 400 spam in Junk and the other parts' ham in
INBOX to learn from, 100 spam, 150 easy ham and the fold's hard ham held out), learned with
learn.py through Dovecot and scanned through rspamd as from the client each message's receiving
MX recorded. It fails when the share of spam flagged at the seed's
add_header score, or of ham flagged, moves past the stated margins from what the full bench
measured (docs/quality.md). Runs after the modules that need an untaught Bayes; Redis is emptied.
"""

from __future__ import annotations

import pytest
from support import settings_file

from bench import corpus, quality, scan
from operations import learn
from sandbox import dovecot

pytestmark = pytest.mark.e2e

# The quick fold's floor and ceilings: what the deploy reaches on it (92 of 100 spam flagged, no
# ham, on rspamd 3.12), less a margin of a few messages (each spam is 1%, each easy ham 0.7%,
# each hard ham 7.7%).
MIN_SPAM_FLAGGED = 0.87
MAX_EASY_FLAGGED = 2 / 150
MAX_HARD_FLAGGED = 1 / 13


@pytest.fixture(scope="module")
def judged(deployed, tmp_path_factory):
    target, env, *_ = deployed
    if env.get("MAIL_HOST"):
        pytest.skip("installs Dovecot and a user: the sandbox only")
    path = tmp_path_factory.mktemp("quality") / "settings.toml"
    path.write_text(settings_file().read_text())
    env = {**env, "MAIL_SETTINGS": str(path)}
    quality.prepare(target, env)
    before, after, learned = quality.run_fold(target, env, corpus.folds(quick=True)[0])
    yield before, after, learned
    dovecot.remove_user(target, quality.USER)


def _share(part: dict) -> float:
    return part["flagged"] / part["scanned"]


def test_learn_py_learns_what_it_is_given(judged):
    _before, _after, learned = judged
    fold = corpus.folds(quick=True)[0]
    spam = min(len(fold.train_spam), len(fold.train_ham))
    ham = min(len(fold.train_ham), learn.HAM_PER_SPAM * len(fold.train_spam))
    assert learned.get("spam learned", 0) >= spam - 20 and learned.get("ham learned", 0) >= ham - 20, learned
    assert learned.get("spam already classified", 0) == learned.get("ham already classified", 0) == 0, learned
    assert learned.get("spam failed", 0) == learned.get("ham failed", 0) == 0, learned


def test_learn_py_then_learns_the_ham_bayes_takes_for_spam_and_only_that(judged):
    _before, _after, learned = judged
    fold = corpus.folds(quick=True)[0]
    ham = min(len(fold.train_ham), learn.HAM_PER_SPAM * len(fold.train_spam))
    checked = min(len(fold.train_ham) - ham, learn.CHECKED_PER_SPAM * len(fold.train_spam))
    kinds = ("learned", "learned before", "already classified", "too short")
    looked_at = sum(learned.get(f"ham errors {what}", 0) for what in kinds)
    assert looked_at == checked and learned.get("ham errors failed", 0) == 0, learned
    # some of INBOX's older ham looks like spam to Bayes (on rspamd 3.12 and 4.1, about 42 of the
    # 850 checked); the ham it already takes for ham is left alone
    assert 0 < learned.get("ham errors learned", 0) < checked / 5, learned


def test_spam_is_flagged_and_ham_is_not(judged):
    _before, after, _learned = judged
    print(f"\nquick quality: {quality.table({'after learn.py': after})}")
    assert _share(after["spam"]) >= MIN_SPAM_FLAGGED, after["spam"]["miss_symbols"]
    assert _share(after["easy"]) <= MAX_EASY_FLAGGED, after["easy"]["miss_symbols"]
    assert _share(after["hard"]) <= MAX_HARD_FLAGGED, after["hard"]["miss_symbols"]


def test_rspamd_is_given_the_client_the_receiving_mx_recorded(judged):
    """Each message is scanned as from the client its receiving MX wrote down (bench/scan.py
    relay()), so rspamd's checks of the client score it as they would have on arrival: the
    messages whose client had no reverse DNS name, and only those, get RDNS_NONE."""
    fold = corpus.folds(quick=True)[0]
    messages = {**fold.spam, **fold.easy, **fold.hard}
    unnamed = {
        key.replace("/", "-")
        for key, raw in messages.items()
        if "Hostname" not in (scan.relay(raw) or scan.DEFAULT_RELAY)
    }
    scored = {r["name"].split("/", 1)[1] for r in quality.RAW["after"][-1] if "RDNS_NONE" in r["symbols"]}
    assert unnamed and scored == unnamed, (sorted(unnamed - scored)[:5], sorted(scored - unnamed)[:5])
