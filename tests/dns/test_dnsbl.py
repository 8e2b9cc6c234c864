"""The blocklist health check (#16): its real shell command, run here against a real NSD that
plays each list the way a resolver may see it: answering, refusing, silent, or hijacked."""

from __future__ import annotations

import base64
import subprocess
import time

import nsd
import pytest

from mailguard import dnsbl
from operations.dns import DnsblAnswers

reason = nsd.available()
pytestmark = pytest.mark.skipif(bool(reason), reason=reason or "")
SERVER, SILENT = "127.0.53.9", "127.0.53.10"


def zone(name: str, records: str) -> str:
    return nsd.soa_header(name, [f"ns1.{name}"]) + f"ns1 IN A {SERVER}\n" + records


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    zones = {
        "zen.spamhaus.org": zone("zen.spamhaus.org", "2.0.0.127 IN A 127.0.0.2\n2.0.0.127 IN A 127.0.0.10\n"),
        "dbl.spamhaus.org": zone("dbl.spamhaus.org", "dbltest.com IN A 127.255.255.254\n"),  # a public resolver
        "multi.uribl.com": zone("multi.uribl.com", "test.uribl.com IN A 127.0.0.1\n"),  # refused
        "bl.spameatingmonkey.net": zone("bl.spameatingmonkey.net", "2.0.0.127 IN A 198.51.100.80\n"),  # hijacked
        "list.dnswl.org": zone("list.dnswl.org", "2.0.0.127 IN A 127.0.10.0\n"),
    }  # multi.surbl.org: not served (REFUSED)
    server = nsd.Nsd(tmp_path_factory.mktemp("nsd-dnsbl"), address=SERVER)
    server.start(zones)
    silent = nsd.Misbehaving(SILENT)
    yield
    server.stop()
    silent.close()


def check(server: str) -> tuple[dict[str, str], str, float]:
    queries = {n: dnsbl.query(b, n) for n, b in enumerate(dnsbl.BLOCKLISTS)}
    fact = DnsblAnswers()
    started = time.monotonic()
    output = subprocess.run(
        ["sh", "-c", fact.command(queries, server, nsd.PORT)], capture_output=True, text=True, check=True
    )
    took = time.monotonic() - started
    answers = fact.process(output.stdout.splitlines())
    results = [
        (b, *dnsbl.classify(b, base64.b64decode(answers.get(str(n), "")))) for n, b in enumerate(dnsbl.BLOCKLISTS)
    ]
    return {b.zone: status for b, status, _ in results}, dnsbl.report(results, server, True), took


def test_each_list_is_reported_as_the_resolver_sees_it(lists):
    statuses, text, _ = check(SERVER)
    assert statuses == {
        "zen.spamhaus.org": dnsbl.OK,
        "dbl.spamhaus.org": dnsbl.BLOCKED,
        "multi.uribl.com": dnsbl.BLOCKED,
        "multi.surbl.org": dnsbl.NO_ANSWER,
        "bl.spameatingmonkey.net": dnsbl.WRONG,
        "list.dnswl.org": dnsbl.OK,
    }
    assert "2 of 6 lists answer" in text
    assert (
        "dbl.spamhaus.org, multi.uribl.com refuse the system's resolver, a shared or public one: "
        'set resolver = "local"' in text
    )


def test_a_silent_resolver_is_no_answer_for_every_list_within_a_few_seconds(lists):
    statuses, _, took = check(SILENT)
    assert set(statuses.values()) == {dnsbl.NO_ANSWER}
    assert took < 6  # the queries go out together, each waits 3 s at most
