"""Last step: the DNS records to publish, with the DKIM key read from the host."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation

from mailguard import dkim, dns_records
from mailguard.platforms import Platform

from .facts import DkimPublicKey


def public_keys(settings, platform: Platform) -> dict[str, str | None]:
    return {
        domain: host.get_fact(DkimPublicKey, path=dkim.key_path(platform.rspamd_db_dir, domain, settings.dkim_selector))
        for domain in settings.domains
    }


@operation()
def print_records(settings, platform: Platform):
    """Prints at execution time, when the keys exist; changes nothing on the host."""
    if not host.state.is_executing:
        host.noop("the records are printed when the deploy runs")
        return
    records = dns_records.records(settings, public_keys(settings, platform))
    print(f"\n--> DNS records to publish for {', '.join(settings.domains)} ({host.name}):")
    print(dns_records.table(records) + "\n")
    host.noop("DNS records printed")
    return
    yield  # a generator, like every operation


@deploy("DNS report")
def report(settings, platform: Platform):
    print_records(name="DNS: the records to publish", settings=settings, platform=platform)
