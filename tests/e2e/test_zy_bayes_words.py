"""Bayes reads the words of a few headers (lua.local.d/mailguard_bayes_headers.lua, issue #39).

Two senders' mail, alike in everything but the words of its sender's headers (From, Reply-To,
Return-Path, Received), is learned: one sender's as spam, the other's as ham. The same new text
is then scanned from each. Where the deploy writes the file (rspamd 3.12 and later), Bayes tells
the two apart; on rspamd 3.4, which does not read lua.local.d, the deploy leaves the file out and
Bayes sees two identical messages. The spam sender's message with thousands of Received headers
and a To: header of megabytes above it is still classified. Redis is emptied first and after (the
quality bench's reset).
"""

from __future__ import annotations

import random

import pytest

from bench import quality
from mailguard import layout, rspamd_config

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

LEARNED = 210  # of each class: above min_learns (200), which the sandbox's settings leave as it is
# class -> (address, relay): the only words the two classes do not share. No display name: rspamd
# gives Bayes the From: header's name as a token of its own.
SENDERS = {
    "spam": ("deals@zorblax-mail.example", "relay.zorblax-mail.example"),
    "ham": ("ingrid@fjordline.example", "smtp.fjordline.example"),
}
VOCABULARY = [
    f"{a}{b}{c}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "si", "tu") for b in "aeiou" for c in "dkmnrst"
]


def message(kind: str, number: int, text: str) -> bytes:
    address, relay = SENDERS[kind]
    return (
        f"Return-Path: <{address}>\n"
        f"Received: from {relay} ({relay} [192.0.2.{10 if kind == 'spam' else 20}])\n"
        f"\tby mx.example.com (Postfix) with ESMTP id 4B{number:08X}\n"
        f"\tfor <user@example.com>; Fri, 4 Dec 2026 10:00:00 +0000\n"
        f"From: {address}\n"
        f"Reply-To: {address}\n"
        "To: user@example.com\n"
        f"Subject: {' '.join(text.split()[:4])}\n"
        f"Message-ID: <{number}@example.com>\n"
        "Date: Fri, 4 Dec 2026 10:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"{text}\n"
    ).encode()


def test_bayes_tells_two_senders_apart_by_the_words_of_their_headers(deployed):
    target, *_ = deployed
    words = random.Random(39)  # texts drawn alike for both classes: their words say nothing
    texts = [" ".join(words.choice(VOCABULARY) for _ in range(60)) for _ in range(2 * LEARNED + 1)]
    train = {
        kind: {f"{n:04d}": message(kind, n, texts[n]) for n in range(offset, offset + LEARNED)}
        for kind, offset in (("spam", 0), ("ham", LEARNED))
    }
    probe = {kind: {"probe": message(kind, 2 * LEARNED, texts[-1])} for kind in SENDERS}
    # and the spam sender's probe as hostile mail would send it: thousands of Received headers
    # above it, a To: header of megabytes (the words read stay bounded, the message is classified)
    relays = b"Received: from a.example (a.example [192.0.2.1]) by b.example; Fri, 4 Dec 2026 10:00:00 +0000\n"
    probe["hostile"] = {"probe": 5000 * relays + b"To: " + 200_000 * b"1234567 " + b"\n" + probe["spam"]["probe"]}
    quality.reset(target, quality.REDIS_SOCKET)
    try:
        quality.put_scanner(target)
        quality.upload(target, f"{quality.HOST_DIR}/words", train)
        for kind in SENDERS:
            target.sh(
                f"for f in {quality.HOST_DIR}/words/{kind}/*; do "
                f"rspamc -h {layout.LEARN_SOCKET} -t 30 --header 'Learn-Type: bulk' learn_{kind} < \"$f\" "
                "| grep -q success || exit 1; done",
                timeout=600,
            )
        quality.upload(target, f"{quality.HOST_DIR}/words-probe", probe)
        verdicts = {
            r["name"].split("/")[0]: {s: v for s, v in r["symbols"].items() if s.startswith("BAYES_")}
            for r in quality.scan(target, "rspamd", f"{quality.HOST_DIR}/words-probe")
        }
        written = target.sh(f"test -f /etc/rspamd/{rspamd_config.BAYES_HEADER_WORDS} && echo yes", check=False).strip()
        release = target.sh(f"cat {layout.RSPAMD_RELEASE}").strip()  # the release the deploy recorded
    finally:
        quality.reset(target, quality.REDIS_SOCKET)
    if release.startswith("3.4"):
        assert not written, "rspamd 3.4 does not read lua.local.d: the deploy writes nothing there"
        assert set(verdicts["spam"]) == set(verdicts["ham"]), verdicts  # the same text, the same tokens
    else:
        assert written == "yes", release
        assert "BAYES_SPAM" in verdicts["spam"] and "BAYES_HAM" in verdicts["ham"], verdicts
        assert "BAYES_SPAM" in verdicts["hostile"], verdicts
