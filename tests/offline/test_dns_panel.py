"""The records laid out for a VPS provider's DNS panel carry exactly what the zone snippet carries (#23)."""

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
        text = value if rtype != "TXT" or value.startswith('"') else '"' + value + '"'
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
    ],
    ids=["one domain", "with IPv6", "two domains, host in the second"],
)
def test_the_panel_table_and_the_zone_snippet_carry_the_same_records(changes):
    expected = inputs(**changes)
    for domain in expected.domains:
        panel, snippet = from_panel(expected, domain), from_snippet(expected, domain)
        assert panel and panel == snippet


def test_names_are_relative_to_the_zone_and_a_long_dkim_value_is_split_as_the_panel_takes_it():
    rows = dns_records.panel_rows(inputs(), "example.com")
    by_name = {(name, rtype): value for rtype, name, _ttl, value in rows}
    assert by_name[("@", "MX")] == "10 mail.example.com."
    assert by_name[("@", "TXT")].startswith("v=spf1 ")
    assert by_name[("_dmarc", "TXT")].startswith("v=DMARC1; ")
    dkim_value = by_name[("dkim._domainkey", "TXT")]
    assert dkim_value.startswith('"v=DKIM1; k=rsa; p=') and '" "' in dkim_value  # 2048-bit: over 255 characters
    assert all(len(part) <= 255 for part in dkim_value.strip('"').split('" "'))
