"""The blocklist health check (#16): its real shell command, run here against a real NSD that
plays each list the way a resolver may see it: answering, refusing, silent, or hijacked."""

from __future__ import annotations

import subprocess
import time

import nsd
import pytest

from mailguard import dnsbl
from operations.dns import DnsblAnswers

reason = nsd.available()
pytestmark = pytest.mark.skipif(bool(reason), reason=reason or "")
SERVER, SILENT = "127.0.53.21", "127.0.53.22"  # apart from the e2e DNS world (127.0.53.9)
DQS_KEY = "k7q2m9x4w1c8v5b3n6z0p2r4t8"  # a made-up key of the right shape


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
        "zen.dq.spamhaus.net": zone("zen.dq.spamhaus.net", f"2.0.0.127.{DQS_KEY} IN A 127.0.0.2\n"),
        "dbl.dq.spamhaus.net": zone("dbl.dq.spamhaus.net", f"dbltest.com.{DQS_KEY} IN A 127.255.255.250\n"),
    }  # multi.surbl.org: not served (REFUSED)
    server = nsd.Nsd(tmp_path_factory.mktemp("nsd-dnsbl"), address=SERVER)
    server.start(zones)
    try:
        silent = nsd.Misbehaving(SILENT)
    except OSError:
        server.stop()  # never leave an NSD behind: it would answer for the next test's address
        raise
    yield
    server.stop()
    silent.close()


def check(server: str, rbl_conf: str = "/nonexistent", dqs: bool = False) -> tuple[dict[str, str], str, float, str]:
    """Run the host's probe here, as the host would: (statuses, report, seconds, everything it printed)."""
    names = [b.query_name(dqs) for b in dnsbl.BLOCKLISTS]
    fact = DnsblAnswers()
    command = fact.command(names, server, nsd.PORT, rbl_conf)
    started = time.monotonic()
    output = subprocess.run(list(command.argv), capture_output=True, text=True, check=True)
    took = time.monotonic() - started
    answers = fact.process(output.stdout.splitlines())
    results = [(b, *dnsbl.classify(b, answers.get(str(n)))) for n, b in enumerate(dnsbl.BLOCKLISTS)]
    printed = command.get_raw_value() + output.stdout + output.stderr
    return {b.zone: status for b, status, _ in results}, dnsbl.report(results, server, True, dqs), took, printed


def test_each_list_is_reported_as_the_resolver_sees_it(lists):
    statuses, text, _, _ = check(SERVER)
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
    statuses, _, took, _ = check(SILENT)
    assert set(statuses.values()) == {dnsbl.NO_ANSWER}
    assert took < 6  # the queries go out together, each waits 3 s at most


def test_with_a_dqs_key_spamhaus_is_asked_with_it_and_the_key_never_leaves_the_host(lists, tmp_path):
    rbl_conf = tmp_path / "rbl.conf"  # as the deploy writes it (templates/rspamd/local.d/rbl.conf.j2)
    rbl_conf.write_text(f'rbls {{\n  spamhaus {{\n    rbl = "{DQS_KEY}.zen.dq.spamhaus.net";\n  }}\n}}\n')
    statuses, text, _, printed = check(SERVER, str(rbl_conf), dqs=True)
    assert statuses["zen.spamhaus.org"] == dnsbl.OK  # 2.0.0.127.<key>.zen.dq.spamhaus.net answered
    assert statuses["dbl.spamhaus.org"] == dnsbl.BLOCKED  # 127.255.255.250: the key is not valid
    assert "2.0.0.127.<key>.zen.dq.spamhaus.net" in text
    assert DQS_KEY not in printed and DQS_KEY not in text  # not in the command, its output or the report
