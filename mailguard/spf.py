"""SPF (RFC 7208), evaluated for one address against a zone's own servers (the DNS check)."""

from __future__ import annotations

import ipaddress

from .authoritative import Authoritative, IPAddress

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4


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
