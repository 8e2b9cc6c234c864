"""rspamd 4.x's URL_OBFUSCATED_TEXT without its "word dot word" pattern (local.d/url_suspect.conf, #39).

An address written out in words, as people write theirs on mailing lists, and prose that says
"dot com" must not score as a hidden link, and the tricks spam uses to hide one (hxxp://, [.]) still
must. rspamd 3.x has no url_suspect module: there no message scores the symbol, and the file the
deploy writes is read by nothing.
"""

from __future__ import annotations

import pytest

from bench import quality
from mailguard import layout

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

SYMBOL = "URL_OBFUSCATED_TEXT"
TEXTS = {
    # the address in words is the one of the list post the quality bench saw flagged for it
    "address": "Hi all. For the archives: I'm formerly known as gbolcer at endtech dot com on this list.",
    "prose": "Most of the startups we funded in the dot com years are gone, and so is the money.",
    "hidden": "Your parcel is waiting. Confirm delivery at hxxp://parcel-desk[.]com/track before Friday.",
}


def message(name: str, text: str) -> bytes:
    return (
        "Received: from mail.example.org (mail.example.org [192.0.2.30])\n"
        "\tby mx.example.com (Postfix) with ESMTP id 4B0000001\n"
        "\tfor <user@example.com>; Fri, 4 Dec 2026 10:00:00 +0000\n"
        "From: Someone <someone@example.org>\n"
        "To: user@example.com\n"
        f"Subject: {name}\n"
        f"Message-ID: <{name}@example.org>\n"
        "Date: Fri, 4 Dec 2026 10:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"{text}\n"
    ).encode()


def test_an_address_written_in_words_is_no_hidden_link_and_hxxp_still_is(deployed):
    target, *_ = deployed
    quality.put_scanner(target)
    quality.upload(target, f"{quality.HOST_DIR}/obfuscated", {"probe": {n: message(n, t) for n, t in TEXTS.items()}})
    scored = {
        r["name"].split("/")[1]: r["symbols"].get(SYMBOL)
        for r in quality.scan(target, "rspamd", f"{quality.HOST_DIR}/obfuscated")
    }
    assert set(scored) == set(TEXTS), scored
    if target.sh(f"cat {layout.RSPAMD_RELEASE}").startswith("3."):  # the release the deploy recorded
        assert scored == {"address": None, "prose": None, "hidden": None}, scored
    else:
        assert scored["address"] is None and scored["prose"] is None, scored
        assert scored["hidden"] is not None and scored["hidden"] > 0, scored
