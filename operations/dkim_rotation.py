"""dkim_rotate.py's stages on the host: each domain's next stage planned from its keys and the live
DNS (mailguard/dkim.py decides), the replaced keys retired, the states recorded, and what to publish
or remove printed."""

from __future__ import annotations

import datetime

from pyinfra import host

from mailguard import authoritative, dkim, layout
from mailguard.layout import dkim_dir, dkim_key_path

from . import files, hoststate
from .commands import Command, script
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading


@operation_reading(lambda path, retired, *a, **k: [("stat", path), ("stat", retired)])
def retired_key(path: str, retired: str, *, reads: HostReads, state: Snapshot):
    """A replaced key moved to the root-only retired keys (a rename: a link is moved, never followed)."""
    if files.planted_link(reads, state.stat(path), path):
        return
    if state.stat(path) is None:
        host.noop(f"{path} is not there: {'retired already' if state.stat(retired) else 'nothing to retire'}")
        return
    yield Command("mkdir", "-p", "-m", "700", "--", layout.RETIRED_DKIM_DIR)
    yield script("retire", path, retired)


def retired_path(domain: str, selector: str, today: datetime.date) -> str:
    return f"{layout.RETIRED_DKIM_DIR}/{domain}.{selector}.retired-{today}.key"


def plan_rotation(ctx: HostContext, today: datetime.date) -> list[dkim.RotationStep]:
    """Each domain's next stage, decided from the host's keys and (stage 2) the live DNS."""
    from mailguard import dnscheck  # dnspython's resolver, for this check only

    settings, states = ctx.settings, ctx.key_states
    db_dir = ctx.platform.rspamd_db_dir
    kinds = {
        (d, s): kind
        for d, state in states.items()
        for selectors, kind in ((state.selectors, "pubkey"), (state.ed25519_selectors, "edpubkey"))
        for s in selectors
    }
    paths = {(d, s): dkim_key_path(db_dir, d, s) for d, s in kinds}
    globs = {d: f"{dkim_dir(db_dir)}/{d}.*.key" for d in states}
    wants = [(kinds[k], p) for k, p in paths.items()] + [("glob", g) for g in globs.values()]
    snap = ctx.reads.snapshot(*wants)
    resolver = authoritative.Authoritative(settings.dns_resolver, settings.dns_port, settings.dns_timeout)

    def served_for(domain: str):
        def served(selector: str) -> tuple[bool, str]:
            path = paths.get((domain, selector)) or dkim_key_path(db_dir, domain, selector)
            key = snap.pubkey(path, kinds.get((domain, selector), "pubkey"))
            if not key:
                return False, f"the key {path} is missing on the host"
            algorithm = "ed25519" if kinds.get((domain, selector)) == "edpubkey" else "rsa"
            return dnscheck.dkim_served_everywhere(resolver, f"{selector}._domainkey.{domain}", key, algorithm)

        return served

    steps = []
    for domain, state in states.items():
        taken = {path.rsplit("/", 1)[1][len(domain) + 1 : -len(".key")] for path in snap.glob(globs[domain])}
        steps.append(
            dkim.rotation_step(
                domain,
                state,
                today,
                settings.dkim_retire_days,
                served_for(domain),
                taken | set(state.selectors),
                ed25519=settings.dkim_ed25519,
            )
        )
    return steps


def record_rotation(ctx: HostContext, steps: list[dkim.RotationStep], today: datetime.date) -> None:
    """After the deploy: the replaced keys retired, the states recorded, what to publish printed."""
    for step in steps:
        for selector, _ in step.retire:
            retired_key(
                name=f"DKIM: retire {step.domain}'s key {selector}",
                path=dkim_key_path(ctx.platform.rspamd_db_dir, step.domain, selector),
                retired=retired_path(step.domain, selector, today),
                reads=ctx.reads,
            )
    files.text_file(
        name="DKIM: which key each domain signs with",
        path=layout.DKIM_STATE,
        content=dkim.state_text(dict(ctx.key_states)),
        mode=600,
        keep_original=False,
        reads=ctx.reads,
    )
    ctx.run.after_operations(ctx.target, "rotation", lambda: _print_rotation(ctx, steps, today))


def _print_rotation(ctx: HostContext, steps: list[dkim.RotationStep], today: datetime.date) -> None:
    from mailguard import dns_records

    platform = ctx.platform

    def record(domain: str, selector: str, algorithm: str, path: str) -> str:
        key = ctx.reads.snapshot((hoststate.PUBKEY_KIND[algorithm], path)).pubkey(
            path, hoststate.PUBKEY_KIND[algorithm]
        )
        name = f"{selector}._domainkey.{domain}"
        txt = dns_records.Record(name, "TXT", dkim.txt_value(key or dns_records.PENDING_KEY, algorithm), "", "DKIM")
        return f"{name}. IN TXT {txt.rdata}"

    print(f"\n--> DKIM key rotation ({ctx.name}):")
    for step in steps:
        print(f"  {step.domain}: {step.says}")
        for selector, algorithm in step.publish:
            path = dkim_key_path(platform.rspamd_db_dir, step.domain, selector)
            print(f"    publish: {record(step.domain, selector, algorithm, path)}")
        for selector, algorithm in step.retire:
            path = retired_path(step.domain, selector, today)
            print(f"    remove:  {record(step.domain, selector, algorithm, path)}")
    print()
