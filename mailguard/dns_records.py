"""The DNS records an admin must publish for the deployed server.

``RecordInputs`` is everything the records depend on (from the settings and the DKIM public keys
read off the host).  It is written to JSON so that the live check (``mailguard.dnscheck``) and
automation can work without the host.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from . import dkim
from .setting_kinds import domain_for_display

if TYPE_CHECKING:
    from .settings import Settings

PENDING_KEY = "<key not generated yet>"


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, no trailing dot
    type: str
    value: str
    purpose: str
    kind: str  # what the live check compares: A, AAAA, PTR, MX, SPF, DKIM, DMARC

    @property
    def strings(self) -> list[str]:
        """A TXT value's character-strings as served (others: the value itself)."""
        return dkim.split_txt(self.value) if self.type == "TXT" else [self.value]

    @property
    def rdata(self) -> str:
        """The value as written in a zone file."""
        if self.type != "TXT":
            return self.value
        return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in self.strings)


@dataclass(frozen=True)
class RecordInputs:
    domains: tuple[str, ...]
    mail_hostname: str
    addresses: tuple[str, ...]  # the server's public IPv4 and/or IPv6
    spf_all: str
    dkim_selector: str
    dkim_keys: dict[str, str | None] = field(hash=False)  # domain -> p= value (None: no key yet)
    dmarc_policy: str = "quarantine"
    dmarc_rua: tuple[str, ...] = ()
    dmarc_ruf: tuple[str, ...] = ()
    dkim_selectors: dict[str, str] = field(default_factory=dict, hash=False)  # domains with their own selector
    # DKIM records beside each domain's signing key (a rotation's other key, the Ed25519 key):
    # record name -> (p= value, why, algorithm)
    dkim_more: dict[str, tuple[str | None, str, str]] = field(default_factory=dict, hash=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        dkim_keys: dict[str, str | None],
        dkim_more: dict[str, tuple[str | None, str, str]] | None = None,
    ) -> RecordInputs:
        return cls(
            domains=tuple(settings.domains),
            mail_hostname=settings.mail_hostname,
            addresses=tuple(a for a in (settings.server_ipv4, settings.server_ipv6) if a),
            spf_all=settings.spf_all,
            dkim_selector=settings.dkim_selector,
            dkim_selectors=dict(settings.dkim_selectors),
            dkim_keys={d: dkim_keys.get(d) for d in settings.domains},
            dmarc_policy=settings.dmarc_policy,
            dmarc_rua=tuple(settings.dmarc_rua),
            dmarc_ruf=tuple(settings.dmarc_ruf),
            dkim_more=dict(dkim_more or {}),
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["records"] = [asdict(r) | {"strings": r.strings} for r in records(self)]
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RecordInputs:
        data = json.loads(text)
        data.pop("records", None)
        for name in ("domains", "addresses", "dmarc_rua", "dmarc_ruf"):
            data[name] = tuple(data[name])
        data["dkim_more"] = {name: tuple(value) for name, value in data.get("dkim_more", {}).items()}
        return cls(**data)

    def dkim_name(self, domain: str) -> str:
        return f"{self.dkim_selectors.get(domain, self.dkim_selector)}._domainkey.{domain}"

    def dkim_key_for(self, name: str) -> str | None:
        """The p= value the DKIM record ``name`` must carry: a signing key's or a rotating key's."""
        if name in self.dkim_more:
            return self.dkim_more[name][0]
        return self.dkim_keys.get(name.split("._domainkey.", 1)[1])


def spf_value(expected: RecordInputs) -> str:
    mechanisms = [f"ip{ipaddress.ip_address(a).version}:{a}" for a in expected.addresses]
    return " ".join(["v=spf1", *mechanisms, expected.spf_all])


def dmarc_value(expected: RecordInputs) -> str:
    parts = ["v=DMARC1", f"p={expected.dmarc_policy}"]
    if expected.dmarc_rua:
        parts.append("rua=" + ",".join(f"mailto:{a}" for a in expected.dmarc_rua))
    if expected.dmarc_ruf:
        parts.append("ruf=" + ",".join(f"mailto:{a}" for a in expected.dmarc_ruf))
    return "; ".join(parts)


def ptr_name(address: str) -> str:
    """The PTR record's name (an IPv4-mapped IPv6 address: its IPv4 one, as dnspython gives it)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).reverse_pointer


def report_authorizations(expected: RecordInputs, domain: str) -> list[str]:
    """Names of the records by which another domain agrees to receive ``domain``'s DMARC reports
    (RFC 7489 7.1): one per report address outside the domain, in that address's domain."""
    names = []
    for address in (*expected.dmarc_rua, *expected.dmarc_ruf):
        other = address.rsplit("@", 1)[-1].lower()
        name = f"{domain}._report._dmarc.{other}"
        if not in_zone(other, domain) and not in_zone(domain, other) and name not in names:
            names.append(name)
    return names


def records(expected: RecordInputs) -> list[Record]:
    out: list[Record] = []
    host = expected.mail_hostname
    for address in expected.addresses:
        rtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
        out.append(Record(host, rtype, address, "the mail host's address", rtype))
        out.append(Record(ptr_name(address), "PTR", host, "reverse DNS: set it at the VPS provider", "PTR"))
    # The HELO name, and the sender domain of bounces and of local mail (root@, cron: myorigin).
    out.append(Record(host, "TXT", spf_value(expected), "SPF for the mail host's own name (HELO, bounces)", "SPF"))
    for domain in expected.domains:
        out.append(Record(domain, "MX", f"10 {host}", "where mail for the domain goes", "MX"))
        out.append(Record(domain, "TXT", spf_value(expected), "SPF: the servers allowed to send", "SPF"))
        public = expected.dkim_keys.get(domain)
        out.append(
            Record(expected.dkim_name(domain), "TXT", dkim.txt_value(public or PENDING_KEY), "DKIM public key", "DKIM")
        )
        for name, (key, why, algorithm) in expected.dkim_more.items():
            if name.endswith(f"._domainkey.{domain}"):
                out.append(Record(name, "TXT", dkim.txt_value(key or PENDING_KEY, algorithm), why, "DKIM"))
        out.append(
            Record(f"_dmarc.{domain}", "TXT", dmarc_value(expected), "DMARC policy and report addresses", "DMARC")
        )
        for name in report_authorizations(expected, domain):
            purpose = f"lets {name.split('._dmarc.', 1)[1]} receive {domain}'s DMARC reports: in that zone"
            out.append(Record(name, "TXT", "v=DMARC1", purpose, "DMARCAUTH"))
    return out


def table(records_: list[Record]) -> str:
    """The records as a table; an internationalised name also shows its Unicode form."""
    lines = []
    for record in records_:
        lines.append(f"{record.name:<40} {record.type:<5} {record.rdata}")
        shown = domain_for_display(record.name)
        purpose = record.purpose + (f" (the name is {shown})" if shown != record.name else "")
        lines.append(f"{'':<40} {'':<5} ; {purpose}")
    return "\n".join(lines)


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def zone_of(name: str, zones: tuple[str, ...]) -> str | None:
    """The most specific of ``zones`` that holds ``name`` (a nested domain's records are its own
    zone's, not its parent's); None when none does."""
    holding = [zone for zone in zones if in_zone(name, zone)]
    return max(holding, key=len) if holding else None


def where_it_goes(record: Record, zone: str | None = None) -> str:
    """Where a record is published that ``zone`` (one of the deploy's, if any) holds, or none of them."""
    if zone:
        return f"in the zone {zone}"
    if record.kind == "DMARCAUTH":
        return f"in the zone of {record.name.split('._dmarc.', 1)[1]} (the domain that receives the reports)"
    return f"in the zone that holds {record.name}"


def zone_snippet(expected: RecordInputs, domain: str) -> str:
    """BIND zone-file lines for ``domain`` with absolute names: paste into the domain's zone.

    Records that live in other zones (the PTR, a mail host under another domain, a nested
    domain's) are given as comments, so the snippet loads into the domain's zone as written.
    """
    lines = [f"; mailguard: records to publish in the zone {domain}."]
    nested = sorted({d for d in expected.domains if d != domain and in_zone(d, domain)})
    for other in nested:
        lines.append(f"; {other}'s records: in {other}.zone (put them here if {other} is not a zone of its own)")
    for record in records(expected):
        line = f"{record.name}. IN {record.type} {record.rdata}"
        if record.type == "MX":
            line = f"{record.name}. IN MX {record.value}."
        elif record.type == "PTR":
            line = f"{record.name}. IN PTR {record.value}."
        zone = zone_of(record.name, expected.domains)
        if zone == domain and record.type != "PTR":
            lines.append(line)
        elif zone != domain and (
            record.kind in ("A", "AAAA", "PTR")
            or record.name == expected.mail_hostname
            or record.name.startswith(f"{domain}._report._dmarc.")
        ):
            where = "at the VPS provider" if record.type == "PTR" else where_it_goes(record, zone)
            lines.append(f"; {where}: {line}")
    return "\n".join(lines) + "\n"


PANEL_TTL = 3600  # what the DNS panels of VPS providers (ConoHa included) propose by default


def panel_value(record: Record) -> str:
    """The value as the seed pastes it into ConoHa's panel: one unquoted string, however long (the
    panel stores a long TXT value as the 255-character strings DNS needs); a host name with its
    final dot."""
    if record.type in ("MX", "CNAME"):
        return record.value.rstrip(".") + "."
    return record.value


def panel_rows(expected: RecordInputs, domain: str) -> list[tuple[str, str, str, str]]:
    """(type, name relative to the zone, TTL, value) for each record of ``domain``'s zone, in the
    order a DNS panel asks for them; "@" is the zone's apex. A nested domain's records are its own
    table's; the PTR and records of other zones are not in any (``elsewhere_rows``, ``ptr_rows``)."""
    rows = []
    for record in records(expected):
        if record.type == "PTR" or zone_of(record.name, expected.domains) != domain:
            continue
        name = "@" if record.name == domain else record.name[: -len(domain) - 1]
        rows.append((record.type, name, str(PANEL_TTL), panel_value(record)))
    return rows


def elsewhere_rows(expected: RecordInputs) -> list[tuple[str, str, str, str]]:
    """(type, full name, value, where it goes) of each record none of the domains' zones holds: a
    mail host under another domain, the report authorization at the domain that receives reports."""
    return [
        (record.type, record.name, panel_value(record), where_it_goes(record))
        for record in records(expected)
        if record.type != "PTR" and zone_of(record.name, expected.domains) is None
    ]


def ptr_rows(expected: RecordInputs) -> list[tuple[str, str]]:
    """(address, host name) of each reverse record: set in the server's settings at the VPS provider."""
    return [(address, expected.mail_hostname) for address in expected.addresses]


def panel_tables(expected: RecordInputs) -> str:
    """Every zone's table for a DNS panel (type / name / TTL / value), then what no panel of these
    zones can hold, each with where it goes, then the reverse records."""
    lines = []
    for domain in expected.domains:
        lines.append(f"{domain}: type / name / TTL / value, as the DNS panel asks for them")
        rows = panel_rows(expected, domain)
        lines += [f"  {rtype:<5} {name:<24} {ttl:<5} {value}" for rtype, name, ttl, value in rows]
        if not rows:
            lines.append("  (none)")
    elsewhere = elsewhere_rows(expected)
    if elsewhere:
        lines.append("Not in these zones' panels: publish each where it says")
        for rtype, name, value, where in elsewhere:
            lines.append(f"  {rtype:<5} {name} {PANEL_TTL} {value}")
            lines.append(f"        ; {where}")
    for address, name in ptr_rows(expected):
        lines.append(f"PTR of {address}: {name} (in the server's own settings at the VPS provider, not the DNS panel)")
    return "\n".join(lines)
