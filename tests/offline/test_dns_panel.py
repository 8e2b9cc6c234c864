"""The records laid out for a VPS provider's DNS panel (ConoHa's, as the seed pastes them) carry exactly
what the zone snippet carries; what no panel of the deploy's zones can hold is listed apart, with where
it goes; a nested domain's records are in its own table only."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from support import PASSWORDS, SETTINGS, public_key_b64

from mailguard import dkim, dns_records, settings

KEY = public_key_b64(dkim.generate_private_key_pem(2048))


def inputs(**changes) -> dns_records.RecordInputs:
    loaded = settings.load({**SETTINGS, **changes}, PASSWORDS)
    return dns_records.RecordInputs.from_settings(loaded, {d: KEY for d in loaded.domains})


def from_panel(expected, domain) -> set:
    origin = dns.name.from_text(domain)
    found = set()
    for rtype, name, _ttl, value in dns_records.panel_rows(expected, domain):
        owner = origin if name == "@" else dns.name.from_text(name, origin)
        # the panel stores one long value as DNS's 255-character strings
        text = " ".join(f'"{part}"' for part in dkim.split_txt(value)) if rtype == "TXT" else value
        found.add(
            (
                owner,
                dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text, origin, relativize=False),
            )
        )
    return found


def from_snippet(expected, domain) -> set:
    snippet = dns_records.zone_snippet(expected, domain)
    header = f"$TTL 300\n@ IN SOA ns1.{domain}. hostmaster.{domain}. 1 3600 600 86400 300\n@ IN NS ns1.{domain}.\n"
    zone = dns.zone.from_text(header + snippet, origin=domain, relativize=False)
    return {
        (name, rdata)
        for name, rdataset in zone.iterate_rdatasets()
        if rdataset.rdtype not in (dns.rdatatype.SOA, dns.rdatatype.NS)
        for rdata in rdataset
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"server_ipv6": "2001:db8::25"},
        {"domains": ["example.com", "example.org"], "mail_hostname": "mx.example.org"},
        {"domains": ["example.com", "sub.example.com"]},
        {"mail_hostname": "mx.example.net", "dmarc_rua": ["reports@example.org"]},
    ],
    ids=["one domain", "with IPv6", "two domains, host in the second", "a nested domain", "out-of-zone records"],
)
def test_the_panel_table_and_the_zone_snippet_carry_the_same_records(changes):
    expected = inputs(**changes)
    for domain in expected.domains:
        panel, snippet = from_panel(expected, domain), from_snippet(expected, domain)
        assert panel and panel == snippet


def test_names_are_relative_to_the_zone_and_each_value_is_one_unquoted_string_as_the_seed_pastes_it():
    rows = dns_records.panel_rows(inputs(), "example.com")
    by_name = {(name, rtype): value for rtype, name, _ttl, value in rows}
    assert by_name[("@", "MX")] == "10 mail.example.com."
    assert by_name[("@", "TXT")].startswith("v=spf1 ")
    assert by_name[("_dmarc", "TXT")].startswith("v=DMARC1; ")
    dkim_value = by_name[("dkim._domainkey", "TXT")]  # 2048-bit: over 255 characters, still one string
    assert dkim_value == f"v=DKIM1; k=rsa; p={KEY}" and len(dkim_value) > 255
    assert not any('"' in value for value in by_name.values())


def test_a_nested_domain_s_records_are_in_its_own_table_only():
    expected = inputs(domains=["example.com", "sub.example.com"])
    parent = {name for _, name, _, _ in dns_records.panel_rows(expected, "example.com")}
    nested = {name for _, name, _, _ in dns_records.panel_rows(expected, "sub.example.com")}
    assert not any(name == "sub" or name.endswith(".sub") for name in parent)
    assert {"@", "dkim._domainkey", "_dmarc"} <= nested
    assert "sub.example.com's records: in sub.example.com.zone" in dns_records.zone_snippet(expected, "example.com")


def test_what_no_panel_of_these_zones_holds_is_listed_apart_with_where_it_goes():
    expected = inputs(mail_hostname="mx.example.net", dmarc_rua=["reports@example.org"])
    in_panel = {(rtype, name) for rtype, name, _, _ in dns_records.panel_rows(expected, "example.com")}
    assert ("MX", "@") in in_panel and not any("mx" in name for _, name in in_panel)
    apart = {(rtype, name): where for rtype, name, _value, where in dns_records.elsewhere_rows(expected)}
    assert apart[("A", "mx.example.net")] == "in the zone that holds mx.example.net"
    assert ("TXT", "mx.example.net") in apart  # the host's own SPF (HELO, bounces)
    assert "the zone of example.org" in apart[("TXT", "example.com._report._dmarc.example.org")]
    printed = dns_records.panel_tables(expected)
    assert "Not in these zones' panels" in printed
    assert "example.com._report._dmarc.example.org 3600 v=DMARC1" in printed


def test_every_record_is_in_exactly_one_place_of_the_panel_output():
    expected = inputs(
        domains=["example.com", "sub.example.com", "example.org"],
        mail_hostname="mx.example.net",
        dmarc_rua=["reports@example.org", "dmarc@example.info"],
    )
    placed = [
        (rtype, name, domain)
        for domain in expected.domains
        for rtype, name, _, _ in dns_records.panel_rows(expected, domain)
    ]
    placed += [(rtype, name, None) for rtype, name, _, _ in dns_records.elsewhere_rows(expected)]
    assert len(placed) == len([r for r in dns_records.records(expected) if r.type != "PTR"])
    assert len(placed) == len(set(placed))
