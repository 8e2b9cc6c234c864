"""A zone's own name servers, asked directly: a resolver (the system's, or one named) only finds a
name's zone and the addresses of that zone's servers; every record is then asked of those servers
without recursion, so the answer is the zone's, never a cache's."""

from __future__ import annotations

import ipaddress
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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
            raise DnsError(f"{name}: {self._via_resolver()} failed to find its zone ({short_error(error)})") from None
        except dns.exception.DNSException as error:
            raise DnsError(f"{name}: finding its zone failed: {short_error(error)}") from None
        if zone in self._servers:
            return zone, self._servers[zone]
        try:
            ns_names = sorted(r.target.to_text(omit_final_dot=True) for r in self.resolver().resolve(zone, "NS"))
        except dns.exception.DNSException as error:
            raise DnsError(f"{zone}: could not get its NS records: {short_error(error)}") from None
        servers = []
        for ns in ns_names:
            for rtype in ("A", "AAAA"):
                try:
                    servers += [(ns, r.address) for r in self.resolver().resolve(ns, rtype)]
                except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                    pass
                except dns.exception.DNSException as error:
                    self.notes.append(f"{ns}: its {rtype} lookup failed: {short_error(error)}")
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
            return f"{ns} ({address}) failed: {short_error(error)}"
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


def short_error(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
