"""Live check: ask each zone's authoritative servers (not a cache) whether the records are right.

    python -m mailguard.dnscheck dns-records/<host>/records.json [--resolver IP] [--port N] [--timeout S]

A resolver (the system's, or ``--resolver``) is used only to find a name's zone and the
addresses of that zone's name servers; every record is then asked of those servers directly,
without recursion.  Records are compared by meaning: SPF is evaluated for each server address,
DKIM's ``p=`` is compared as a key, DMARC is parsed.  Exit status: 0 when every record is ok,
1 when any is missing or wrong or could not be checked, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import ipaddress
import sys
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from .dns_records import Record, RecordInputs, records

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4


class DnsError(Exception):
    """A lookup that could not be answered: the message is one line for the admin."""


@dataclass
class Answer:
    rcode: int
    rrsets: list
    server: str

    @property
    def nxdomain(self) -> bool:
        return self.rcode == dns.rcode.NXDOMAIN

    def texts(self) -> list[str]:
        """TXT values, each record's character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rrset in self.rrsets for rdata in rrset]

    def values(self) -> list:
        return [rdata for rrset in self.rrsets for rdata in rrset]


@dataclass
class Authoritative:
    """Finds a name's authoritative servers with a resolver, then asks them directly."""

    resolver_address: str | None = None
    port: int = 53
    timeout: float = 3.0
    notes: list[str] = field(default_factory=list)
    _servers: dict = field(default_factory=dict)
    _silent: set = field(default_factory=set)  # servers that timed out once: not waited for again
    _resolver_failure: str | None = None
    _resolver: dns.resolver.Resolver | None = None

    def resolver(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            if self.resolver_address:
                self._resolver = dns.resolver.Resolver(configure=False)
                self._resolver.nameservers = [self.resolver_address]
            else:
                self._resolver = dns.resolver.Resolver()
            self._resolver.port = self.port
            self._resolver.timeout = self.timeout
            self._resolver.lifetime = self.timeout * 2
        return self._resolver

    def _via_resolver(self) -> str:
        return f"the resolver {self.resolver_address}" if self.resolver_address else "the system's resolver"

    def servers(self, name: str) -> tuple[str, list[tuple[str, str]]]:
        """(zone, [(server name, address)]) for ``name``."""
        if self._resolver_failure:
            raise DnsError(f"{name}: {self._resolver_failure}")
        try:
            zone = dns.resolver.zone_for_name(name, resolver=self.resolver()).to_text(omit_final_dot=True)
        except dns.resolver.NoRootSOA:
            raise DnsError(f"{name}: no zone found for it via {self._via_resolver()}") from None
        except dns.exception.Timeout:
            self._resolver_failure = f"{self._via_resolver()} did not answer within {self.timeout:g} s"
            raise DnsError(f"{name}: {self._resolver_failure}") from None
        except dns.resolver.NoNameservers as error:
            raise DnsError(f"{name}: {self._via_resolver()} failed to find its zone ({_short(error)})") from None
        except dns.exception.DNSException as error:
            raise DnsError(f"{name}: finding its zone failed: {_short(error)}") from None
        if zone in self._servers:
            return zone, self._servers[zone]
        try:
            ns_names = sorted(r.target.to_text(omit_final_dot=True) for r in self.resolver().resolve(zone, "NS"))
        except dns.exception.DNSException as error:
            raise DnsError(f"{zone}: could not get its NS records: {_short(error)}") from None
        servers = []
        for ns in ns_names:
            for rtype in ("A", "AAAA"):
                try:
                    servers += [(ns, r.address) for r in self.resolver().resolve(ns, rtype)]
                except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                    pass
                except dns.exception.DNSException as error:
                    self.notes.append(f"{ns}: its {rtype} lookup failed: {_short(error)}")
        if not servers:
            raise DnsError(f"{zone}: none of its name servers ({', '.join(ns_names)}) has an address")
        self._servers[zone] = servers
        return zone, servers

    def _ask_one(self, zone: str, ns: str, address: str, name: str, rdtype: str) -> Answer | str:
        """One authoritative server's answer, or why there is none."""
        if address in self._silent:
            return f"{ns} ({address}) did not answer within {self.timeout:g} s (earlier)"
        query = dns.message.make_query(name, rdtype)
        query.flags &= ~dns.flags.RD
        try:
            response = dns.query.udp(query, address, timeout=self.timeout, port=self.port)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(query, address, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout:
            self._silent.add(address)
            return f"{ns} ({address}) did not answer within {self.timeout:g} s"
        except (OSError, dns.exception.DNSException) as error:
            return f"{ns} ({address}) failed: {_short(error)}"
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return f"{ns} ({address}) answered {dns.rcode.to_text(rcode)}"
        if not response.flags & dns.flags.AA:
            return f"{ns} ({address}) is lame: not authoritative for {zone}"
        wanted = dns.rdatatype.from_text(rdtype)
        return Answer(rcode, [r for r in response.answer if r.rdtype == wanted], f"{ns} ({address})")

    def ask(self, name: str, rdtype: str) -> Answer:
        """The first authoritative server's answer (the others' failures become notes)."""
        zone, servers = self.servers(name)
        failures = []
        for ns, address in servers:
            answer = self._ask_one(zone, ns, address, name, rdtype)
            if isinstance(answer, str):
                failures.append(answer)
                continue
            self.notes += [f"{failure} (asked for {name} {rdtype})" for failure in failures]
            return answer
        raise DnsError(f"{name} {rdtype}: no authoritative server of {zone} answered: " + "; ".join(failures))

    def ask_each(self, name: str, rdtype: str) -> list[Answer | str]:
        """Every authoritative server's answer, or why it gave none: for a change that must be
        everywhere before the next step (a DKIM key before signing with it)."""
        zone, servers = self.servers(name)
        return [self._ask_one(zone, ns, address, name, rdtype) for ns, address in servers]

    def addresses(self, name: str) -> set[IPAddress]:
        out: set[IPAddress] = set()
        for rtype in ("A", "AAAA"):
            answer = self.ask(name, rtype)
            out |= {ipaddress.ip_address(r.address) for r in answer.values()}
        return out


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


@dataclass
class Finding:
    record: Record
    status: str  # ok, missing, wrong, error
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --- SPF (RFC 7208), evaluated for one address -------------------------------------------------


class SpfPermError(Exception):
    pass


_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class Spf:
    def __init__(self, dns_: Authoritative):
        self.dns = dns_
        self.lookups = 0
        self.inner = ""  # why an include matched

    def _count(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise SpfPermError(f"more than {SPF_LOOKUP_LIMIT} DNS lookups")

    def record(self, domain: str) -> str | None:
        answer = self.dns.ask(domain, "TXT")
        found = [t for t in answer.texts() if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
        if len(found) > 1:
            raise SpfPermError(f"{domain} has {len(found)} SPF records")
        return found[0] if found else None

    def check_host(self, address: IPAddress, domain: str) -> tuple[str, str]:
        """(result, the term that decided it)."""
        text = self.record(domain)
        if text is None:
            return "none", f"no SPF record at {domain}"
        redirect = None
        for term in text.split()[1:]:
            if "=" in term.split(":")[0]:
                key, _, value = term.partition("=")
                if key.lower() == "redirect":
                    redirect = value
                continue
            qualifier = _QUALIFIERS.get(term[0])
            mechanism = term[1:] if qualifier else term
            qualifier = qualifier or "pass"
            self.inner = ""
            if self._matches(address, mechanism, domain):
                return qualifier, f"{term} at {domain}" + (f" -> {self.inner}" if self.inner else "")
        if redirect:
            self._count()
            result, why = self.check_host(address, self._domain_spec(redirect))
            if result == "none":
                raise SpfPermError(f"redirect={redirect} has no SPF record")
            return result, why
        return "neutral", f"no term of {domain}'s SPF matched"

    @staticmethod
    def _domain_spec(spec: str) -> str:
        if "%" in spec:
            raise SpfPermError(f"macro in {spec!r}: this check does not expand SPF macros")
        name = spec.rstrip(".").lower()
        labels = name.split(".")
        if not name or len(name) > 253 or any(not label or len(label) > 63 for label in labels):
            raise SpfPermError(f"bad domain {spec!r}")
        return name

    @staticmethod
    def _prefix(text: str, longest: int, mechanism: str) -> int:
        if not text.isdigit() or int(text) > longest:
            raise SpfPermError(f"bad prefix length /{text} in {mechanism!r}")
        return int(text)

    def _split(self, rest: str, domain: str) -> tuple[str, int | None, int | None]:
        """a/mx arguments: [:domain][/cidr4][//cidr6]."""
        whole = rest
        cidr4 = cidr6 = None
        if "//" in rest:
            rest, cidr6_text = rest.split("//", 1)
            cidr6 = self._prefix(cidr6_text, 128, whole)
        if "/" in rest:
            rest, cidr4_text = rest.split("/", 1)
            cidr4 = self._prefix(cidr4_text, 32, whole)
        if rest == ":" or (rest and not rest.startswith(":")):
            raise SpfPermError(f"bad domain in {whole!r}")
        target = self._domain_spec(rest[1:]) if rest.startswith(":") else domain
        return target, cidr4, cidr6

    @staticmethod
    def _in(address: IPAddress, candidates: set[IPAddress], cidr4: int | None, cidr6: int | None) -> bool:
        for candidate in candidates:
            if candidate.version != address.version:
                continue
            prefix = cidr4 if address.version == 4 else cidr6
            prefix = candidate.max_prefixlen if prefix is None else prefix  # a/0 is a /0, not a /32
            if address in ipaddress.ip_network(f"{candidate}/{prefix}", strict=False):
                return True
        return False

    def _matches(self, address: IPAddress, mechanism: str, domain: str) -> bool:
        name, _, arg = mechanism.partition(":")
        name = name.split("/")[0].lower()
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            try:
                network = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                raise SpfPermError(f"bad {mechanism!r}") from None
            return network.version == address.version and address in network
        if name == "a":
            self._count()
            target, cidr4, cidr6 = self._split(mechanism[1:], domain)
            return self._in(address, self.dns.addresses(target), cidr4, cidr6)
        if name == "mx":
            self._count()
            target, cidr4, cidr6 = self._split(mechanism[2:], domain)
            hosts = [r.exchange.to_text(omit_final_dot=True) for r in self.dns.ask(target, "MX").values()]
            return any(self._in(address, self.dns.addresses(h), cidr4, cidr6) for h in hosts[:10])
        if name == "include":
            self._count()
            result, why = self.check_host(address, self._domain_spec(arg))
            if result == "none":
                raise SpfPermError(f"include:{arg} has no SPF record")
            self.inner = why
            return result == "pass"
        if name == "exists":
            self._count()
            return bool(self.dns.ask(self._domain_spec(arg), "A").values())
        if name == "ptr":
            self._count()
            return False  # deprecated (RFC 7208 5.5); never relied on here
        raise SpfPermError(f"unknown mechanism {mechanism!r}")


# --- one check per record kind ----------------------------------------------------------------


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        if "=" in part:
            key, _, value = part.partition("=")
            tags[key.strip().lower()] = "".join(value.split()) if key.strip().lower() == "p" else value.strip()
    return tags


def check_spf(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    results = []
    for text in expected.addresses:
        spf = Spf(dns_)
        try:
            result, why = spf.check_host(ipaddress.ip_address(text), record.name)
        except SpfPermError as error:
            return Finding(record, "wrong", f"SPF permerror: {error}")
        if result == "none":
            return Finding(record, "missing", why)
        results.append((text, result, why, spf.lookups))
    bad = [r for r in results if r[1] != "pass"]
    if bad:
        return Finding(record, "wrong", "; ".join(f"{a} gets {res} ({why})" for a, res, why, _ in bad))
    return Finding(record, "ok", "; ".join(f"{a} passes ({why}, {n} lookups)" for a, _, why, n in results))


def dkim_meaning(answer: Answer, key: str, algorithm: str = "rsa") -> tuple[str, str]:
    """(status, detail) of a DKIM record as served, against the key's p= value and algorithm."""
    found = [t for t in answer.texts() if "p=" in t]
    if not found:
        return "missing", "no DKIM record" + (" (NXDOMAIN)" if answer.nxdomain else "")
    if len(found) > 1:
        return "wrong", f"{len(found)} DKIM records at one name"
    tags = _tags(found[0])
    published = tags.get("p", "")
    if tags.get("k", "rsa").lower() != algorithm:
        return "wrong", f"k={tags.get('k', 'rsa')}, the key on the host is {algorithm}"
    try:
        same = base64.b64decode(published, validate=True) == base64.b64decode(key)
    except binascii.Error:
        return "wrong", "p= is not base64"
    if not published:
        return "wrong", "p= is empty (the key is revoked)"
    if not same:
        return "wrong", "p= is another key than the one on the host"
    strings = sum(len(r.strings) for r in answer.values())
    return "ok", f"p= matches the key on the host ({strings} strings)"


def check_dkim(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    key = expected.dkim_key_for(record.name)
    if not key:
        return Finding(record, "error", "no DKIM key on the host yet: run the deploy first")
    algorithm = _tags(record.value).get("k", "rsa")
    return Finding(record, *dkim_meaning(dns_.ask(record.name, "TXT"), key, algorithm))


def dkim_served_everywhere(dns_: Authoritative, name: str, key: str) -> tuple[bool, str]:
    """Whether every authoritative server serves ``name``'s DKIM record with ``key``, and what each said."""
    try:
        answers = dns_.ask_each(name, "TXT")
    except DnsError as error:
        return False, str(error)
    said, serving = [], 0
    for answer in answers:
        if isinstance(answer, str):
            said.append(answer)
            continue
        status, detail = dkim_meaning(answer, key)
        serving += status == "ok"
        said.append(f"{answer.server}: {status}" + ("" if status == "ok" else f", {detail}"))
    return serving == len(answers), f"{serving} of {len(answers)} servers: " + "; ".join(said)


def check_dmarc(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    answer = dns_.ask(record.name, "TXT")
    found = [t for t in answer.texts() if t.replace(" ", "").upper().startswith("V=DMARC1")]
    if not found:
        return Finding(record, "missing", "no DMARC record" + (" (NXDOMAIN)" if answer.nxdomain else ""))
    if len(found) > 1:
        return Finding(record, "wrong", f"{len(found)} DMARC records: receivers ignore them all")
    tags = _tags(found[0])
    problems = []
    if tags.get("p", "").lower() != expected.dmarc_policy:
        problems.append(f"p={tags.get('p', '(none)')}, expected p={expected.dmarc_policy}")
    for tag, wanted in (("rua", expected.dmarc_rua), ("ruf", expected.dmarc_ruf)):
        have = {
            u.strip().lower().removeprefix("mailto:").split("!")[0] for u in tags.get(tag, "").split(",") if u.strip()
        }
        missing = [a for a in wanted if a.lower() not in have]
        if missing:
            problems.append(f"{tag} lacks {', '.join(missing)}")
    if problems:
        return Finding(record, "wrong", "; ".join(problems))
    return Finding(record, "ok", f"p={expected.dmarc_policy}")


def check_report_authorization(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    answer = dns_.ask(record.name, "TXT")
    if any(t.replace(" ", "").upper().startswith("V=DMARC1") for t in answer.texts()):
        return Finding(record, "ok", "reports are authorised")
    return Finding(record, "missing", "no v=DMARC1 record: receivers send no reports to that address")


def check_mx(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    answer = dns_.ask(record.name, "MX")
    hosts = [r.exchange.to_text(omit_final_dot=True).lower() for r in answer.values()]
    if not hosts:
        return Finding(record, "missing", "no MX record" + (" (NXDOMAIN)" if answer.nxdomain else ""))
    if expected.mail_hostname not in hosts:
        return Finding(record, "wrong", f"MX points at {', '.join(hosts)}, not {expected.mail_hostname}")
    return Finding(record, "ok", f"MX includes {expected.mail_hostname}")


def check_address(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    answer = dns_.ask(record.name, record.type)
    have = {ipaddress.ip_address(r.address) for r in answer.values()}
    if not have:
        return Finding(record, "missing", f"no {record.type} record" + (" (NXDOMAIN)" if answer.nxdomain else ""))
    if ipaddress.ip_address(record.value) not in have:
        return Finding(record, "wrong", f"{record.name} is {', '.join(map(str, sorted(have)))}")
    return Finding(record, "ok", f"{record.name} has {record.value}")


def check_ptr(dns_: Authoritative, expected: RecordInputs, record: Record) -> Finding:
    answer = dns_.ask(record.name, "PTR")
    names = [r.target.to_text(omit_final_dot=True).lower() for r in answer.values()]
    address = ipaddress.ip_address(dns.reversename.to_address(dns.name.from_text(record.name)))
    if not names:
        return Finding(record, "missing", f"no PTR for {address}: set it at the VPS provider")
    if expected.mail_hostname not in names:
        return Finding(record, "wrong", f"PTR of {address} is {', '.join(names)}")
    if address not in dns_.addresses(expected.mail_hostname):
        return Finding(
            record, "wrong", f"PTR names {expected.mail_hostname}, but that name does not resolve to {address}"
        )
    return Finding(record, "ok", f"{address} -> {expected.mail_hostname} -> {address} (forward-confirmed)")


CHECKS = {
    "SPF": check_spf,
    "DKIM": check_dkim,
    "DMARC": check_dmarc,
    "DMARCAUTH": check_report_authorization,
    "MX": check_mx,
    "A": check_address,
    "AAAA": check_address,
    "PTR": check_ptr,
}


def check(expected: RecordInputs, dns_: Authoritative) -> list[Finding]:
    findings = []
    for record in records(expected):
        try:
            findings.append(CHECKS[record.kind](dns_, expected, record))
        except DnsError as error:
            findings.append(Finding(record, "error", str(error)))
    return findings


def report(findings: list[Finding], notes: list[str]) -> str:
    lines = []
    for finding in findings:
        record = finding.record
        lines.append(f"  {finding.status:<8} {record.name} {record.type} ({record.kind}): {finding.detail}")
        if finding.status in ("missing", "wrong"):
            lines.append(f"  {'':<8} publish: {record.name}. IN {record.type} {record.rdata}")
    for note in dict.fromkeys(notes):
        lines.append(f"  note     {note}")
    bad = sum(not f.ok for f in findings)
    lines.append(f"  {len(findings) - bad} of {len(findings)} records ok" + (f", {bad} need attention" if bad else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mailguard.dnscheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("records", help="records.json written by the deploy or dns_report.py")
    parser.add_argument("--resolver", help="resolver used to find the zones (default: the system's)")
    parser.add_argument("--port", type=int, default=53, help="port of every DNS server asked (default 53)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per query (default 3)")
    args = parser.parse_args(argv)
    try:
        with open(args.records, encoding="utf-8") as handle:
            expected = RecordInputs.from_json(handle.read())
    except (OSError, ValueError, TypeError, KeyError) as error:
        print(f"mailguard.dnscheck: cannot read {args.records}: {_short(error)}", file=sys.stderr)
        return 2
    dns_ = Authoritative(args.resolver, args.port, args.timeout)
    findings = check(expected, dns_)
    print(f"DNS check of {', '.join(expected.domains)} against the authoritative servers:")
    print(report(findings, dns_.notes))
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    sys.exit(main())
