"""The DNS records an admin must publish for the deployed server."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from . import dkim
from .settings import Settings


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, no trailing dot
    type: str
    value: str
    purpose: str

    @property
    def strings(self) -> list[str]:
        """A TXT value's character-strings as served (others: the value itself)."""
        return dkim.split_txt(self.value) if self.type == "TXT" else [self.value]


def spf_value(settings: Settings) -> str:
    parts = ["v=spf1"]
    if settings.server_ipv4:
        parts.append(f"ip4:{settings.server_ipv4}")
    if settings.server_ipv6:
        parts.append(f"ip6:{settings.server_ipv6}")
    parts.append(settings.spf_all)
    return " ".join(parts)


def dmarc_value(settings: Settings) -> str:
    parts = ["v=DMARC1", f"p={settings.dmarc_policy}"]
    if settings.dmarc_rua:
        parts.append("rua=" + ",".join(f"mailto:{a}" for a in settings.dmarc_rua))
    if settings.dmarc_ruf:
        parts.append("ruf=" + ",".join(f"mailto:{a}" for a in settings.dmarc_ruf))
    return "; ".join(parts)


def ptr_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


def records(settings: Settings, dkim_public_keys: dict[str, str | None]) -> list[Record]:
    """All records, per domain; ``dkim_public_keys`` maps domain -> p= value (None: not yet known)."""
    out: list[Record] = []
    host = settings.mail_hostname
    for address, rtype in ((settings.server_ipv4, "A"), (settings.server_ipv6, "AAAA")):
        if address:
            out.append(Record(host, rtype, address, "the mail host's address"))
            out.append(Record(ptr_name(address), "PTR", host, "reverse DNS: set it at the VPS provider"))
    for domain in settings.domains:
        out.append(Record(domain, "MX", f"10 {host}", "where mail for the domain goes"))
        out.append(Record(domain, "TXT", spf_value(settings), "SPF: the servers allowed to send"))
        public = dkim_public_keys.get(domain)
        value = dkim.txt_value(public) if public else "v=DKIM1; k=rsa; p=<key not generated yet>"
        out.append(Record(f"{settings.dkim_selector}._domainkey.{domain}", "TXT", value, "DKIM public key"))
        out.append(Record(f"_dmarc.{domain}", "TXT", dmarc_value(settings), "DMARC policy and report addresses"))
    return out


def table(records_: list[Record]) -> str:
    lines = []
    for record in records_:
        if record.type == "TXT":
            value = " ".join(f'"{s}"' for s in record.strings)
        else:
            value = record.value
        lines.append(f"{record.name:<40} {record.type:<5} {value}")
        lines.append(f"{'':<40} {'':<5} ; {record.purpose}")
    return "\n".join(lines)
