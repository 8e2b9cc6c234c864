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
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from .authoritative import Answer, Authoritative, DnsError, short_error
from .dns_records import Record, RecordInputs, records
from .spf import Spf, SpfPermError


@dataclass
class Finding:
    record: Record
    status: str  # ok, missing, wrong, error
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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


def dkim_served_everywhere(dns_: Authoritative, name: str, key: str, algorithm: str = "rsa") -> tuple[bool, str]:
    """Whether every authoritative server serves ``name``'s DKIM record with ``key`` (of ``algorithm``),
    and what each said."""
    try:
        answers = dns_.ask_each(name, "TXT")
    except DnsError as error:
        return False, str(error)
    said, serving = [], 0
    for answer in answers:
        if isinstance(answer, str):
            said.append(answer)
            continue
        status, detail = dkim_meaning(answer, key, algorithm)
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
        print(f"mailguard.dnscheck: cannot read {args.records}: {short_error(error)}", file=sys.stderr)
        return 2
    dns_ = Authoritative(args.resolver, args.port, args.timeout)
    findings = check(expected, dns_)
    print(f"DNS check of {', '.join(expected.domains)} against the authoritative servers:")
    print(report(findings, dns_.notes))
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    sys.exit(main())
