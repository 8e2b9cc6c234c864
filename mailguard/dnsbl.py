"""Do the blocklists rspamd uses answer through the resolver rspamd uses? (#16)

Each list is asked for its documented test point. The big lists refuse queries that come through
shared or public resolvers, with error codes or no answer at all; rspamd then scores nothing
from them and says nothing about it. The queries are built and read here; they are sent from the
host, to the very resolver rspamd asks (operations.dns).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype

LISTED = ipaddress.ip_network("127.0.0.0/8")  # every list answers "listed" inside 127/8
SPAMHAUS_REFUSED = ("127.255.255.252", "127.255.255.254", "127.255.255.255")  # typo, public resolver, over limit


@dataclass(frozen=True)
class Blocklist:
    zone: str
    test_point: str  # the name under the zone its operator documents as always listed
    refused: tuple[str, ...]  # answers that mean "this resolver may not ask"

    @property
    def query_name(self) -> str:
        return f"{self.test_point}.{self.zone}"


# The lists rspamd's rbl module asks by default (modules.d/rbl.conf), with their test points.
BLOCKLISTS = (
    Blocklist("zen.spamhaus.org", "2.0.0.127", SPAMHAUS_REFUSED),
    Blocklist("dbl.spamhaus.org", "dbltest.com", SPAMHAUS_REFUSED),
    Blocklist("multi.uribl.com", "test.uribl.com", ("127.0.0.1",)),
    Blocklist("multi.surbl.org", "test.surbl.org", ("127.0.0.1",)),
    Blocklist("bl.spameatingmonkey.net", "2.0.0.127", ()),
    Blocklist("list.dnswl.org", "2.0.0.127", ("127.0.0.255",)),
)

OK, BLOCKED, NO_ANSWER, WRONG = "ok", "blocked (resolver refused)", "no answer", "wrong answer"


def query(blocklist: Blocklist, query_id: int) -> bytes:
    message = dns.message.make_query(blocklist.query_name, "A")
    message.id = query_id
    return message.to_wire()


def classify(blocklist: Blocklist, wire: bytes | None) -> tuple[str, str]:
    """(status, what was answered) for the resolver's response to the test query."""
    if not wire:
        return NO_ANSWER, "no response"
    try:
        response = dns.message.from_wire(wire)
    except dns.exception.DNSException as error:
        return WRONG, f"unreadable response ({error.__class__.__name__})"
    if response.rcode() != dns.rcode.NOERROR:
        return NO_ANSWER, dns.rcode.to_text(response.rcode())
    addresses = sorted({r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset})
    if not addresses:
        return NO_ANSWER, "no address"
    shown = ", ".join(addresses)
    if any(a in blocklist.refused for a in addresses):
        return BLOCKED, shown
    if not all(ipaddress.ip_address(a) in LISTED for a in addresses):
        return WRONG, shown
    return OK, shown


def report(results: list[tuple[Blocklist, str, str]], resolver: str, system_resolver: bool) -> str:
    lines = [f"Blocklists, asked for their test points through rspamd's resolver ({resolver}):"]
    for blocklist, status, detail in results:
        lines.append(f"  {status:<27} {blocklist.zone} ({blocklist.query_name}: {detail})")
    blocked = [b.zone for b, status, _ in results if status == BLOCKED]
    if blocked and system_resolver:
        lines.append(
            f"  {', '.join(blocked)} refuse the system's resolver, a shared or public one: "
            'set resolver = "local" so that rspamd asks its own'
        )
    elif blocked:
        lines.append(
            f"  {', '.join(blocked)} refuse this server's own resolver: its address is over the lists' free "
            "limits or listed as a public resolver; their data feeds (Spamhaus DQS) need a key"
        )
    ok = sum(status == OK for _, status, _ in results)
    lines.append(f"  {ok} of {len(results)} lists answer")
    return "\n".join(lines)
