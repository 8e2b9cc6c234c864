"""The live DNS check against a real authoritative server (NSD) serving zones right and wrong.

NSD on 127.0.53.1:5300 is authoritative for ``test.`` and for one zone per scenario; it also
serves as the resolver that finds the zones.  ``ns0.test`` (127.0.53.2) never answers,
``ns3.test`` answers REFUSED, ``ns4.test`` SERVFAIL and ``ns5.test`` answers without
authority (a lame delegation).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import time

import nsd
import pytest
from support import public_key_b64

from mailguard import authoritative, dkim, dns_records, dnscheck
from mailguard.dns_records import RecordInputs

reason = nsd.available()
pytestmark = pytest.mark.skipif(bool(reason), reason=reason or "")

IP = "192.0.2.25"
HOST = "mail.good.test"
TIMEOUT = 0.5


def expected_for(domain: str, key: str, **changes) -> RecordInputs:
    base = RecordInputs(
        domains=(domain,),
        mail_hostname=HOST,
        addresses=(IP,),
        spf_all="-all",
        dkim_selector="dkim",
        dkim_keys={domain: key},
        dmarc_policy="quarantine",
        dmarc_rua=(f"postmaster@{domain}",),
        dmarc_ruf=(),
    )
    return dataclasses.replace(base, **changes)


# SPF terms that are not valid (RFC 7208 5.6, 7.1): each a permerror wherever it sits.
MALFORMED = ("a/99", "a/x", "mx//129", "mx//abc", "ip4:300.1.1.1", "include:", "a:", "exists:bad..name", "a:/24")


def key_b64(bits: int = 2048) -> str:
    return public_key_b64(dkim.generate_private_key_pem(bits))


@pytest.fixture(scope="module")
def keys():
    return {"host": key_b64(), "other": key_b64()}


def zone(domain: str, key: str, drop: str | None = None, add: str = "", ns=("ns1.test",), **changes) -> str:
    """The deploy's own snippet for ``domain`` in a zone, without the lines holding ``drop``, plus ``add``."""
    snippet = dns_records.zone_snippet(expected_for(domain, key, **changes), domain)
    lines = [line for line in snippet.splitlines() if drop is None or drop not in line]
    return nsd.soa_header(domain, list(ns)) + "\n".join(lines) + "\n" + (add + "\n" if add else "")


@pytest.fixture(scope="module")
def world(tmp_path_factory, keys):
    """Zones for every scenario, loaded into a running NSD; yields the zone texts."""
    host_key, other_key = keys["host"], keys["other"]
    split_dkim = " ".join(f'"{part}"' for part in dkim.split_txt(dkim.txt_value(host_key), 61))
    zones = {
        "test": nsd.soa_header("test", ["ns1.test"])
        + "\n".join(
            [
                f"ns1 IN A {nsd.ADDRESS}",
                "ns0 IN A 127.0.53.2",
                "ns3 IN A 127.0.53.3",
                "ns4 IN A 127.0.53.4",
                "ns5 IN A 127.0.53.5",
            ]
        )
        + "\n",
        "2.0.192.in-addr.arpa": nsd.soa_header("2.0.192.in-addr.arpa", ["ns1.test"]) + f"25 IN PTR {HOST}.\n",
        # Everything right: the deploy's own snippet, as written.
        "good.test": zone("good.test", host_key),
        # The DNS has another key than the host.
        "stale.test": zone("stale.test", other_key),
        # SPF lacks the address, but a domain it includes (in another zone) has it.
        "include.test": zone(
            "include.test",
            host_key,
            "v=spf1",
            'include.test. IN TXT "v=spf1 include:_spf.provider.test mx:provider.test -all"',
        ),
        "provider.test": nsd.soa_header("provider.test", ["ns1.test"])
        + '_spf IN TXT "v=spf1 ip4:203.0.113.0/24 include:_spf2.provider.test ~all"\n'
        + '_spf2 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
        + "".join(f'_bad{n} IN TXT "v=spf1 {term} -all"\n' for n, term in enumerate(MALFORMED)),
        # SPF through a (the mail host's A record), mx, and redirect= to another domain's policy.
        "viaa.test": zone("viaa.test", host_key, "v=spf1", f'viaa.test. IN TXT "v=spf1 a:{HOST} -all"'),
        "viamx.test": zone("viamx.test", host_key, "v=spf1", 'viamx.test. IN TXT "v=spf1 mx/24 -all"'),
        "viaredirect.test": zone(
            "viaredirect.test", host_key, "v=spf1", 'viaredirect.test. IN TXT "v=spf1 redirect=_spf2.provider.test"'
        ),
        # a/0 is a /0 prefix: every IPv4 address (only the A record of a name outside it would say /32).
        "azero.test": zone(
            "azero.test",
            host_key,
            "v=spf1",
            'azero.test. IN TXT "v=spf1 a:far.azero.test/0 -all"\nfar.azero.test. IN A 10.9.9.9',
        ),
        # Malformed terms deep in an include chain: a warning, never an exception.
        **{
            f"malformed{n}.test": zone(
                f"malformed{n}.test",
                host_key,
                "v=spf1",
                f'malformed{n}.test. IN TXT "v=spf1 include:_bad{n}.provider.test -all"',
            )
            for n in range(len(MALFORMED))
        },
        # DMARC reports sent to another domain, which authorises one sender and not the other.
        "authz.test": zone("authz.test", host_key, dmarc_rua=("dmarc@reports.test",)),
        "unauthz.test": zone("unauthz.test", host_key, dmarc_rua=("dmarc@reports.test",)),
        "reports.test": nsd.soa_header("reports.test", ["ns1.test"]) + 'authz.test._report._dmarc IN TXT "v=DMARC1"\n',
        # SPF lacks the address, softfails it.
        "lacking.test": zone("lacking.test", host_key, "v=spf1", 'lacking.test. IN TXT "v=spf1 ip4:203.0.113.5 ~all"'),
        # SPF that never ends: more than 10 lookups.
        "loop.test": zone("loop.test", host_key, "v=spf1", 'loop.test. IN TXT "v=spf1 include:loop.test -all"'),
        # The DKIM value split at odd places into many strings.
        "split.test": zone("split.test", host_key, "_domainkey", f"dkim._domainkey.split.test. IN TXT {split_dkim}"),
        # No DMARC record; a DMARC record with another policy.
        "nodmarc.test": zone("nodmarc.test", host_key, "_dmarc"),
        "weakdmarc.test": zone(
            "weakdmarc.test",
            host_key,
            "_dmarc",
            '_dmarc.weakdmarc.test. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@weakdmarc.test"',
        ),
        # The first name server never answers; the second does.
        "slow.test": zone("slow.test", host_key, ns=("ns0.test", "ns1.test")),
        # The only name server never answers / refuses / fails / is not authoritative.
        "dead.test": nsd.soa_header("dead.test", ["ns0.test"]),
        "lame.test": nsd.soa_header("lame.test", ["ns3.test"]),
        "broken.test": nsd.soa_header("broken.test", ["ns4.test"]),
        "notauth.test": nsd.soa_header("notauth.test", ["ns5.test"]),
    }
    server = nsd.Nsd(tmp_path_factory.mktemp("nsd"))
    peers = [
        nsd.Misbehaving("127.0.53.2"),
        nsd.Misbehaving("127.0.53.3", rcode=nsd.REFUSED),
        nsd.Misbehaving("127.0.53.4", rcode=nsd.SERVFAIL),
        nsd.Misbehaving("127.0.53.5", rcode=nsd.NOERROR),
    ]
    server.start(zones)
    yield zones
    server.stop()
    for peer in peers:
        peer.close()


def run_check(expected: RecordInputs) -> tuple[dict[str, dnscheck.Finding], list[str]]:
    resolver = authoritative.Authoritative(nsd.ADDRESS, nsd.PORT, TIMEOUT)
    findings = dnscheck.check(expected, resolver)
    return {f.record.kind: f for f in findings}, resolver.notes


def statuses(findings) -> dict[str, str]:
    return {kind: f.status for kind, f in findings.items()}


def test_everything_right(world, keys):
    findings, notes = run_check(expected_for("good.test", keys["host"]))
    assert statuses(findings) == dict.fromkeys(["A", "PTR", "MX", "SPF", "DKIM", "DMARC"], "ok"), findings
    assert "forward-confirmed" in findings["PTR"].detail
    assert "ip4:192.0.2.25" in findings["SPF"].detail
    assert notes == []


def test_stale_dkim_key_is_wrong_with_the_value_to_publish(world, keys):
    expected = expected_for("stale.test", keys["host"])
    findings, _ = run_check(expected)
    assert findings["DKIM"].status == "wrong"
    assert "another key" in findings["DKIM"].detail
    assert {k: v for k, v in statuses(findings).items() if k != "DKIM"} == dict.fromkeys(
        ["A", "PTR", "MX", "SPF", "DMARC"], "ok"
    )
    text = dnscheck.report(list(findings.values()), [])
    publish = [line for line in text.splitlines() if "publish: dkim._domainkey.stale.test." in line]
    assert publish and "".join(publish[0].split('"')[1::2]).endswith(keys["host"])


def test_spf_authorised_through_include(world, keys):
    findings, _ = run_check(expected_for("include.test", keys["host"]))
    assert findings["SPF"].status == "ok", findings["SPF"]
    assert "_spf2.provider.test" in findings["SPF"].detail


@pytest.mark.parametrize(
    "domain, decided_by",
    [
        ("viaa.test", "a:mail.good.test at viaa.test"),
        ("viamx.test", "mx/24 at viamx.test"),
        ("viaredirect.test", "ip4:192.0.2.0/24 at _spf2.provider.test"),
    ],
)
def test_spf_authorised_through_a_mx_and_redirect(world, keys, domain, decided_by):
    findings, _ = run_check(expected_for(domain, keys["host"]))
    assert findings["SPF"].status == "ok", findings["SPF"]
    assert decided_by in findings["SPF"].detail


def test_spf_a_with_prefix_zero_covers_every_address(world, keys):
    findings, _ = run_check(expected_for("azero.test", keys["host"]))
    assert findings["SPF"].status == "ok", findings["SPF"]  # wrong before: /0 was read as /32
    assert "a:far.azero.test/0 at azero.test" in findings["SPF"].detail


@pytest.mark.parametrize("n", range(len(MALFORMED)), ids=MALFORMED)
def test_a_malformed_spf_term_in_an_include_chain_is_a_warning_line(world, keys, n):
    findings, _ = run_check(expected_for(f"malformed{n}.test", keys["host"]))
    assert findings["SPF"].status == "wrong", findings["SPF"]
    assert findings["SPF"].detail.startswith("SPF permerror: "), findings["SPF"]
    assert {f.status for kind, f in findings.items() if kind != "SPF"} == {"ok"}  # the rest is still checked


@pytest.mark.parametrize("domain, status", [("authz.test", "ok"), ("unauthz.test", "missing")])
def test_reports_to_another_domain_need_its_authorization_record(world, keys, domain, status):
    expected = expected_for(domain, keys["host"], dmarc_rua=("dmarc@reports.test",))
    findings, _ = run_check(expected)
    assert findings["DMARCAUTH"].record.name == f"{domain}._report._dmarc.reports.test"
    assert findings["DMARCAUTH"].status == status, findings["DMARCAUTH"]
    snippet = dns_records.zone_snippet(expected, domain)  # published in the other zone: a comment here
    where = "in the zone of reports.test (the domain that receives the reports)"
    assert f'; {where}: {domain}._report._dmarc.reports.test. IN TXT "v=DMARC1"' in snippet


def test_the_mail_hosts_own_name_gets_an_spf_record(world, keys):
    findings = dnscheck.check(
        expected_for("good.test", keys["host"]), authoritative.Authoritative(nsd.ADDRESS, nsd.PORT, 0.5)
    )
    [host_spf] = [f for f in findings if f.record.kind == "SPF" and f.record.name == HOST]
    assert host_spf.status == "ok" and host_spf.record.value == f"v=spf1 ip4:{IP} -all"


def test_spf_lacking_the_address_is_wrong(world, keys):
    findings, _ = run_check(expected_for("lacking.test", keys["host"]))
    assert findings["SPF"].status == "wrong"
    assert "softfail" in findings["SPF"].detail and "~all" in findings["SPF"].detail


def test_spf_over_the_lookup_limit_is_a_permerror(world, keys):
    findings, _ = run_check(expected_for("loop.test", keys["host"]))
    assert findings["SPF"].status == "wrong"
    assert "more than 10 DNS lookups" in findings["SPF"].detail


def test_dkim_split_into_many_strings_matches(world, keys):
    findings, _ = run_check(expected_for("split.test", keys["host"]))
    assert findings["DKIM"].status == "ok", findings["DKIM"]
    assert int(findings["DKIM"].detail.split("(")[1].split()[0]) > 2


def test_missing_dmarc_and_wrong_policy(world, keys):
    findings, _ = run_check(expected_for("nodmarc.test", keys["host"]))
    assert findings["DMARC"].status == "missing"
    assert statuses(findings)["DKIM"] == "ok"
    findings, _ = run_check(expected_for("weakdmarc.test", keys["host"]))
    assert findings["DMARC"].status == "wrong"
    assert "p=none, expected p=quarantine" in findings["DMARC"].detail


def test_domain_that_does_not_exist(world, keys):
    findings, _ = run_check(expected_for("nosuch.test", keys["host"]))
    for kind in ("MX", "SPF", "DKIM", "DMARC"):
        assert findings[kind].status == "missing", findings[kind]
    assert "NXDOMAIN" in findings["MX"].detail


def test_a_server_that_does_not_answer_is_skipped_with_a_note(world, keys):
    findings, notes = run_check(expected_for("slow.test", keys["host"]))
    assert statuses(findings)["DKIM"] == "ok" and statuses(findings)["SPF"] == "ok"
    assert any("ns0.test (127.0.53.2) did not answer within 0.5 s" in note for note in notes), notes


@pytest.mark.parametrize(
    "domain, says",
    [
        ("dead.test", "ns0.test (127.0.53.2) did not answer within 0.5 s"),
        ("lame.test", "ns3.test (127.0.53.3) answered REFUSED"),
        ("broken.test", "ns4.test (127.0.53.4) answered SERVFAIL"),
        ("notauth.test", "ns5.test (127.0.53.5) is lame: not authoritative for notauth.test"),
    ],
)
def test_no_server_answers_gives_one_clear_line(world, keys, domain, says):
    findings, _ = run_check(expected_for(domain, keys["host"]))
    for kind in ("MX", "SPF", "DKIM", "DMARC"):
        assert findings[kind].status == "error"
        assert says in findings[kind].detail and "\n" not in findings[kind].detail


def test_resolver_that_does_not_answer(world, keys):
    resolver = authoritative.Authoritative("127.0.53.2", nsd.PORT, TIMEOUT)
    started = time.monotonic()
    findings = dnscheck.check(expected_for("good.test", keys["host"]), resolver)
    assert {f.status for f in findings} == {"error"}
    assert "the resolver 127.0.53.2 did not answer within 0.5 s" in findings[0].detail
    assert time.monotonic() - started < 30


def run_cli(tmp_path, expected: RecordInputs) -> subprocess.CompletedProcess:
    path = tmp_path / "records.json"
    path.write_text(expected.to_json())
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mailguard.dnscheck",
            str(path),
            "--resolver",
            nsd.ADDRESS,
            "--port",
            str(nsd.PORT),
            "--timeout",
            str(TIMEOUT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_command_exits_zero_only_when_all_is_right(world, keys, tmp_path):
    good = run_cli(tmp_path, expected_for("good.test", keys["host"]))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "7 of 7 records ok" in good.stdout
    for domain in ("stale.test", "nodmarc.test", "dead.test", "nosuch.test"):
        bad = run_cli(tmp_path, expected_for(domain, keys["host"]))
        assert bad.returncode == 1, bad.stdout
        assert "Traceback" not in bad.stdout + bad.stderr
    broken = subprocess.run(
        [sys.executable, "-m", "mailguard.dnscheck", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 2 and "cannot read" in broken.stderr and "Traceback" not in broken.stderr


def test_zone_snippet_loads_as_written(world, tmp_path, keys):
    expected = expected_for("good.test", keys["host"])
    records = json.loads(expected.to_json())["records"]
    assert all(len(s.encode()) <= 255 for r in records for s in r["strings"])
    dkim_strings = next(r["strings"] for r in records if r["kind"] == "DKIM")
    assert len(dkim_strings) == 2 and "".join(dkim_strings) == dkim.txt_value(keys["host"])
    path = tmp_path / "good.zone"
    path.write_text(world["good.test"])
    assert nsd.checkzone("good.test", path).returncode == 0
    assert "; at the VPS provider: 25.2.0.192.in-addr.arpa. IN PTR mail.good.test." in world["good.test"]
    assert base64.b64decode(keys["host"])  # the key the snippet carries is real base64
