"""The quality bench's reading of a corpus message's client (bench/scan.py relay()): what the
receiving MX recorded, as Postfix would hand it to rspamd's milter."""

from __future__ import annotations

import pytest

from bench import scan

FETCHED = (
    "Received: from localhost (localhost [127.0.0.1]) by phobos.labs.example.org (Postfix) with ESMTP id 1;"
    " Thu, 22 Aug 2002 08:17:21 -0400\n"
    "Received: from mail.webnote.net [193.120.211.219] by localhost with POP3 (fetchmail-5.9.0)"
    " for zzzz@localhost (single-drop); Thu, 22 Aug 2002 13:17:21 +0100\n"
)


def message(*received: str, fetched: bool = True) -> bytes:
    lines = [f"Received: {value}\n" for value in received]
    return ((FETCHED if fetched else "") + "".join(lines) + "From: a@b.example\nSubject: s\n\nbody\n").encode()


@pytest.mark.parametrize(
    ("received", "client"),
    [
        (  # sendmail, reverse DNS confirmed (an ident user before the name)
            "from lugh.tuatha.org (root@lugh.tuatha.org [194.125.145.45]) by dogma.slashnull.org (8.11.6/8.11.6)",
            {"IP": "194.125.145.45", "Helo": "lugh.tuatha.org", "Hostname": "lugh.tuatha.org"},
        ),
        (  # sendmail, no reverse DNS
            "from dd_it7 ([210.97.77.167]) by webnote.net (8.9.3/8.9.3) with ESMTP id NAA04623",
            {"IP": "210.97.77.167", "Helo": "dd_it7"},
        ),
        (  # sendmail, a name that did not resolve back: Postfix's client name is "unknown" then
            "from cpu59.osdn.com (slashdot.org [64.28.67.73] (may be forged)) by dogma.slashnull.org",
            {"IP": "64.28.67.73", "Helo": "cpu59.osdn.com"},
        ),
        (  # Postfix, no reverse DNS, a bare address for HELO
            "from 200.161.16.132 (unknown [210.19.113.130]) by smtp.easydns.com (Postfix) with SMTP id 69",
            {"IP": "210.19.113.130", "Helo": "200.161.16.132"},
        ),
        (  # qmail: the name is the reverse DNS one, the HELO the same
            "from bocelli.siteprotect.com (64.41.120.21) by h0090272a42db.example.com with SMTP",
            {"IP": "64.41.120.21", "Helo": "bocelli.siteprotect.com", "Hostname": "bocelli.siteprotect.com"},
        ),
        (  # qmail, a HELO of its own
            "from mx.example.com (HELO outbound7) (64.41.120.22) by h0090272a42db.example.com with SMTP",
            {"IP": "64.41.120.22", "Helo": "outbound7", "Hostname": "mx.example.com"},
        ),
        (  # Exim, no reverse DNS
            "from [64.41.120.23] (helo=perl.org) by cpu59.osdn.com with smtp (Exim 3.35 #1 (Debian))",
            {"IP": "64.41.120.23", "Helo": "perl.org"},
        ),
    ],
)
def test_the_client_is_the_one_the_receiving_mx_recorded(received: str, client: dict) -> None:
    assert scan.relay(message(received)) == client


def test_a_name_no_http_header_can_carry_is_left_out() -> None:
    """The corpus is mail: a HELO of other bytes than a name's would break the scan's request."""
    raw = message("from h\u00e9lo\x01 ([64.41.120.24]) by webnote.net (8.9.3/8.9.3)")
    assert scan.relay(raw) == {"IP": "64.41.120.24"}


def test_hops_within_a_site_and_mailbox_fetches_are_passed_over() -> None:
    raw = message(
        "from int-mx1.corp.example.org (int-mx1.corp.example.org [172.16.52.254]) by listman.example.org",
        "from web.tb.tf (route-64-131-126-36.telocity.com [64.131.126.36]) by web2.tb.tf (8.11.6/8.11.6)",
    )
    assert scan.relay(raw) == {
        "IP": "64.131.126.36",
        "Helo": "web.tb.tf",
        "Hostname": "route-64-131-126-36.telocity.com",
    }


@pytest.mark.parametrize(
    "raw",
    [
        message("from dogma.slashnull.org (localhost [127.0.0.1]) by dogma.slashnull.org (8.11.6/8.11.6)"),
        b"From: a@b.example\nSubject: no Received at all\n\nbody\n",
        message("(qmail 5065 invoked by uid 507); 2 Jan 2002 18:55:00 -0000", fetched=False),
        message("from " + "(" * 5000 + " [64.1.1.1]" + ")" * 5000, fetched=False),
    ],
)
def test_no_outside_client_recorded_is_none(raw: bytes) -> None:
    assert scan.relay(raw) is None
