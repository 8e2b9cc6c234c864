"""example.com on a real NSD on this machine, for the DKIM tests: the record a test publishes is
what dkim_rotate.py's live check and dkimpy's verification read, as a receiver would."""

from __future__ import annotations

import dns.message
import dns.query
import nsd

from mailguard import dkim


def rdata(public_key: str, algorithm: str = "rsa") -> str:
    """A DKIM TXT record's value as a zone file writes it (255-byte strings)."""
    return " ".join(f'"{part}"' for part in dkim.split_txt(dkim.txt_value(public_key, algorithm)))


class Zone:
    """example.com served at ``address``; ``publish`` adds a record line and restarts NSD."""

    def __init__(self, workdir, address: str, public_key: str):
        self.address, self.lines = address, [f"dkim._domainkey IN TXT {rdata(public_key)}"]
        self.server = nsd.Nsd(workdir, address)
        self.server.start(self.zones())

    def zones(self) -> dict[str, str]:
        head = nsd.soa_header("example.com", ["ns1.example.com"]) + f"ns1 IN A {self.address}\n"
        return {"example.com": head + "\n".join(self.lines) + "\n"}

    def publish(self, line: str) -> None:
        self.lines.append(line)
        self.server.stop()
        self.server.start(self.zones())

    def txt(self, name: bytes, timeout: float = 5) -> bytes:
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        response = dns.query.udp(query, self.address, timeout=timeout, port=nsd.PORT)
        return b"".join(b"".join(rdata.strings) for rrset in response.answer for rdata in rrset)

    def settings(self) -> str:
        """The settings lines that point the deploy's live DNS check at this zone."""
        return f'\ndns_resolver = "{self.address}"\ndns_port = {nsd.PORT}\ndns_timeout = 1\n'
