"""Last step: the DNS records to publish (table, zone snippets, JSON) and the live check.

Not an operation: the deploy registers it to run once its last operation has ended (the keys
exist by then), and dns_report.py runs it straight away. The host is only read (the DKIM public
keys); everything else happens on the admin's machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pyinfra import logger
from pyinfra.api import FactBase

from mailguard import authoritative, dkim, dns_records, dnsbl, layout, rspamd_config
from mailguard.layout import dkim_key_path
from mailguard.platforms import Platform
from mailguard.settings import Settings

from . import hoststate
from .commands import Command
from .context import HostContext

OUTPUT_DIR_ENV = "MAIL_DNS_DIR"


def key_paths(settings: Settings, platform: Platform) -> dict[str, str]:
    return {d: dkim_key_path(platform.rspamd_db_dir, d, settings.selector_for(d)) for d in settings.domains}


def output_dir(host_name: str) -> Path:
    return Path(os.environ.get(OUTPUT_DIR_ENV, "dns-records")) / re.sub(r"[^A-Za-z0-9._-]+", "_", host_name).strip("_")


def write_files(expected: dns_records.RecordInputs, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "records.json"]
    written[0].write_text(expected.to_json())
    for domain in expected.domains:
        path = directory / f"{domain}.zone"
        path.write_text(dns_records.zone_snippet(expected, domain))
        written.append(path)
    return written


def public_keys(ctx: HostContext) -> dict[str, str | None]:
    """The p= value of each domain's key, derived on the host (the private key never leaves it)."""
    paths = key_paths(ctx.settings, ctx.platform)
    state = ctx.reads.snapshot(*[("pubkey", p) for p in paths.values()])
    return {domain: state.pubkey(path) for domain, path in paths.items()}


def more_keys(ctx: HostContext):
    """The DKIM records beside each signing key (record name -> (p= value, why, algorithm)): a
    rotation's other key, and the Ed25519 key; the public halves read off the host."""
    settings, states, db_dir = ctx.settings, ctx.key_states, ctx.platform.rspamd_db_dir
    wanted: dict[str, tuple[str, str, str]] = {}  # record name -> (key path, why, algorithm)
    for domain, state in states.items():
        if state.next:
            why = "DKIM public key of the next key: publish now (dkim_rotate.py switches once every server serves it)"
            wanted[f"{state.next}._domainkey.{domain}"] = (dkim_key_path(db_dir, domain, state.next), why, "rsa")
        if state.previous:
            until = dkim.retire_on(state, settings.dkim_retire_days)
            why = f"DKIM public key of the replaced key: keep until {until}, then dkim_rotate.py retires it"
            wanted[f"{state.previous}._domainkey.{domain}"] = (
                dkim_key_path(db_dir, domain, state.previous),
                why,
                "rsa",
            )
    for domain, state in states.items() if settings.dkim_ed25519 else ():
        for selector in state.ed25519_selectors:
            why = (
                "DKIM public key of an Ed25519 key (RFC 8463), beside its RSA key"
                if state.signs_ed25519
                else "DKIM public key of the Ed25519 key: publish now (dkim_rotate.py starts signing once it is served)"
            )
            wanted[f"{selector}._domainkey.{domain}"] = (dkim_key_path(db_dir, domain, selector), why, "ed25519")
    if not wanted:
        return {}
    kinds = {name: hoststate.PUBKEY_KIND[algorithm] for name, (_, _, algorithm) in wanted.items()}
    snap = ctx.reads.snapshot(*[(kinds[name], path) for name, (path, _, _) in wanted.items()])
    return {name: (snap.pubkey(path, kinds[name]), why, algorithm) for name, (path, why, algorithm) in wanted.items()}


def report(ctx: HostContext, probe_blocklists: bool = True) -> None:
    """Print and write the records to publish for the host, then (with dns_check) ask the live DNS,
    and (with dnsbl_check and ``probe_blocklists``) whether the blocklists answer rspamd.

    It changes nothing on the host; a DNS problem is a warning, never a failed deploy.
    """
    settings, target = ctx.settings, ctx.target
    expected = dns_records.RecordInputs.from_settings(settings, public_keys(ctx), more_keys(ctx))
    print(f"\n--> DNS records to publish for {', '.join(settings.domains)} ({target.name}):")
    print(dns_records.table(dns_records.records(expected)))
    print("\n--> The same records for a DNS panel (ConoHa's: タイプ / 名称 / TTL / 値):")
    print(dns_records.panel_tables(expected))
    files = write_files(expected, output_dir(target.name))
    print(f"    written: {', '.join(map(str, files))}\n")
    if settings.dns_check:
        from mailguard import dnscheck  # dnspython's resolver: 50 ms to import, for this check only

        resolver = authoritative.Authoritative(settings.dns_resolver, settings.dns_port, settings.dns_timeout)
        findings = dnscheck.check(expected, resolver)
        print("--> Live DNS, asked of the authoritative servers:")
        print(dnscheck.report(findings, resolver.notes) + "\n")
        if not all(f.ok for f in findings):
            logger.warning(f"{target.name}: DNS is not yet right (see above); mail may be rejected or marked as spam")
    if settings.dnsbl_check and not probe_blocklists:
        print(f"--> Blocklists: {NOT_PROBED}\n")
    elif settings.dnsbl_check:
        text, all_answer = dnsbl_report(ctx)
        print(f"--> {text}\n")
        if not all_answer:
            logger.warning(
                f"{target.name}: some blocklists do not answer rspamd (see above): spam they list gets through"
            )


# A probe costs a round trip, and seconds when a list does not answer: a run that changed nothing
# on the host skips it (what rspamd asks, and through which resolver, is as the last run left it).
NOT_PROBED = "not probed, as this run changed nothing; `pyinfra -y inventory.py dns_report.py` probes them now"


class DnsblAnswers(FactBase):
    """Each test name's answer from the host's resolver, as dnsbl.PROBE prints it (by query number)."""

    default = dict

    def command(self, names: list[str], server: str | None, port: int, rbl_conf: str):
        return Command("bash", "-c", dnsbl.PROBE, "dnsbl-probe", server or "", str(port), rbl_conf, *names)

    def process(self, output):
        answers: dict[str, str] = {}
        for line in output:
            marker, _, rest = line.partition(" ")
            if marker == "@@dnsbl":
                key, _, value = rest.partition(" ")
                answers[key] = value.strip()
        return answers


def dnsbl_report(ctx: HostContext) -> tuple[str, bool]:
    """The blocklist check's report, and whether every list answered."""
    settings, platform, target = ctx.settings, ctx.platform, ctx.target
    local, dqs = settings.resolver == "local", bool(settings.spamhaus_dqs_key)
    names = [b.query_name(dqs) for b in dnsbl.BLOCKLISTS]
    server = layout.RESOLVER_ADDRESS if local else None
    rbl_conf = f"{platform.rspamd_conf_dir}/{rspamd_config.RBL}"
    answers = target.get_fact(DnsblAnswers, names=names, server=server, port=layout.RESOLVER_PORT, rbl_conf=rbl_conf)
    results = [(b, *dnsbl.classify(b, answers.get(str(n)))) for n, b in enumerate(dnsbl.BLOCKLISTS)]
    resolver = answers.get("resolver") or "none in /etc/resolv.conf"
    where = f"{resolver}, {'unbound for rspamd' if local else 'the system'}"
    all_answer = all(status == dnsbl.OK for _, status, _ in results)
    return dnsbl.report(results, where, not local, dqs), all_answer


def report_after_operations(ctx: HostContext) -> None:
    """The deploy's last step: the DNS report, after every operation ran (it needs the keys)."""
    ctx.run.after_operations(ctx.target, "dns", lambda: report(ctx, ctx.reads.changed_anything()))
