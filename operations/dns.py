"""Last step: the DNS records to publish (table, zone snippets, JSON) and the live check.

Everything here runs on the admin's machine at execution time: the host is only read (the
DKIM public keys), and a DNS problem is a warning, never a failed deploy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy

from mailguard import dns_records, dnscheck
from mailguard.layout import dkim_key_path
from mailguard.platforms import Platform

from . import hoststate
from .hoststate import operation_reading

OUTPUT_DIR_ENV = "MAIL_DNS_DIR"


def key_paths(settings, platform: Platform) -> dict[str, str]:
    return {d: dkim_key_path(platform.rspamd_db_dir, d, settings.selector_for(d)) for d in settings.domains}


def public_keys(settings, platform: Platform) -> dict[str, str | None]:
    paths = key_paths(settings, platform)
    state = hoststate.read(*[("pubkey", p) for p in paths.values()])
    return {domain: state.pubkey(path) for domain, path in paths.items()}


def output_dir(host_name: str) -> Path:
    return Path(os.environ.get(OUTPUT_DIR_ENV, "dns-records")) / re.sub(r"[^A-Za-z0-9._-]+", "_", host_name).strip("_")


def write_files(expected: dns_records.Expected, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "records.json"]
    written[0].write_text(expected.to_json())
    for domain in expected.domains:
        path = directory / f"{domain}.zone"
        path.write_text(dns_records.zone_snippet(expected, domain))
        written.append(path)
    return written


@operation_reading(lambda settings, platform, **k: [("pubkey", p) for p in key_paths(settings, platform).values()])
def publish_records(settings, platform: Platform):
    """Prints and writes the records at execution time, when the keys exist; changes nothing on the host."""
    if not host.state.is_executing:
        host.noop("the records are printed when the deploy runs")
        return
    expected = dns_records.Expected.from_settings(settings, public_keys(settings, platform))
    print(f"\n--> DNS records to publish for {', '.join(settings.domains)} ({host.name}):")
    print(dns_records.table(dns_records.records(expected)))
    files = write_files(expected, output_dir(host.name))
    print(f"    written: {', '.join(map(str, files))}\n")
    if settings.dns_check:
        resolver = dnscheck.Authoritative(settings.dns_resolver, settings.dns_port, settings.dns_timeout)
        findings = dnscheck.check(expected, resolver)
        print("--> Live DNS, asked of the authoritative servers:")
        print(dnscheck.report(findings, resolver.notes) + "\n")
        if not all(f.ok for f in findings):
            logger.warning(f"{host.name}: DNS is not yet right (see above); mail may be rejected or marked as spam")
    host.noop("DNS records printed")
    return
    yield  # a generator, like every operation


@deploy("DNS report")
def report(settings, platform: Platform):
    publish_records(name="DNS: the records to publish", settings=settings, platform=platform)
