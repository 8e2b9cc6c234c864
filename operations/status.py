"""status.py: is everything the deploy set up still working? One line per check, OK, WARN or FAIL,
with what to do for anything that is not OK (mailguard/health.py judges). Nothing on the host
changes. A healthy host is asked two commands: the system profile (with the DKIM keys' public
halves, answered from the questions the last deploy kept) and templates/tools/status.sh.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mailguard import (
    authoritative,
    dns_records,
    dnsbl,
    health,
    health_lists,
    health_mail,
    layout,
    learning,
    rspamd_config,
)
from mailguard import (
    dkim as dkim_model,
)
from mailguard.health import OK, WARN, Check, Text
from mailguard.layout import dkim_key_path

from . import dns, readhost, remembered
from .activate import filter_units
from .commands import script
from .context import HostContext
from .dkim import ED25519_PENDING
from .hoststate import PUBKEY_KIND

OUTPUT_ENV = "MAILGUARD_STATUS_OUT"  # status.py --json: where each host's checks are gathered
MILTER_PORT, CONTROLLER_PORT = 11332, 11334


def needed_units(ctx: HostContext) -> dict[str, str]:
    """Each unit the deploy runs on this host, with what it is for."""
    settings, platform = ctx.settings, ctx.platform
    units = filter_units(ctx) | {platform.postfix_unit: "Postfix"}
    if learning.detect(ctx.system) is not None and settings.dovecot_learning:
        units[platform.dovecot_unit] = "Dovecot"
    proxy = {"nginx": platform.nginx_unit, "openlitespeed": platform.ols_unit}.get(settings.webui_proxy)
    if proxy:
        units[proxy] = "the web UI's proxy"
    if settings.redis_role != "standalone":
        units[layout.TUNNEL_UNIT] = "the group's Redis tunnel"
    if settings.group_addresses:
        units[layout.FENCE_UNIT] = "the group's fence"
    if settings.redis_failover:
        units[layout.SENTINEL_UNIT] = "the group's sentinel"
    return units


def _probe_names(ctx: HostContext) -> list[str]:
    dqs = bool(ctx.settings.spamhaus_dqs_key)
    names = [b.query_name(dqs) for b in dnsbl.BLOCKLISTS]
    if ctx.settings.server_ipv4:
        names += health_lists.listing_names(ctx.settings.server_ipv4, dqs)
    return names


def read(ctx: HostContext, units: dict[str, str]) -> dict[str, list[str]]:
    """status.sh's answers (one command, never printed)."""
    platform, local = ctx.platform, ctx.settings.resolver == "local"
    command = script(
        "status",
        platform.redis_socket,
        layout.REDIS_CLIENT_AUTH,
        platform.clamav_db_dir,
        f"{platform.rspamd_db_dir}/stats.ucl",  # rspamd's counters, saved by rspamd itself
        str(len(units)),
        *units,
        dnsbl.PROBE,
        layout.RESOLVER_ADDRESS if local else "",
        str(layout.RESOLVER_PORT),
        f"{platform.rspamd_conf_dir}/{rspamd_config.RBL}",
        *_probe_names(ctx),
    )
    try:
        return health.parse(readhost.ask(ctx.target, command))
    except health.AnswerError as error:
        raise readhost.ReadError(f"mailguard: {ctx.name}: {error}") from None


def dkim_checks(ctx: HostContext) -> list[Check]:
    """Each domain's signing key on the host, and what a rotation is at."""
    checks = []
    db_dir = ctx.platform.rspamd_db_dir
    paths = {d: dkim_key_path(db_dir, d, s.signing) for d, s in ctx.key_states.items()}
    snap = ctx.reads.snapshot(*[(PUBKEY_KIND["rsa"], p) for p in paths.values()])
    for domain, state in ctx.key_states.items():
        mode = f"signs with selector {state.signing}"
        mode_ja = f"セレクタ {state.signing} で署名"
        if state.next:
            mode, mode_ja = f"{mode}, rotating to {state.next}", f"{mode_ja}、{state.next} への交換中"
        if ctx.settings.dkim_ed25519 and state.signs_ed25519:
            ed = dkim_model.ed25519_selector(state.signing)
            mode, mode_ja = f"{mode} and Ed25519 {ed}", f"{mode_ja}（Ed25519 は {ed}）"
        elif ctx.settings.dkim_ed25519:
            checks.append(_ed25519_pending(domain, state))
        if snap.pubkey(paths[domain]):
            checks.append(Check("dkim", OK, Text(f"{domain}: {mode}", f"{domain}: {mode_ja}")))
        else:
            checks.append(
                Check(
                    "dkim",
                    health.FAIL,
                    Text(
                        f"{domain}: no DKIM key at {paths[domain]}", f"{domain}: DKIM 鍵 {paths[domain]} がありません"
                    ),
                    Text(
                        "rerun the deploy (it makes a key only where none is)",
                        "デプロイを再実行してください（鍵がないときだけ作ります）",
                    ),
                )
            )
    return checks


def _ed25519_pending(domain: str, state: dkim_model.KeyState) -> Check:
    """dkim_ed25519 is on, and the domain does not sign with an Ed25519 key yet."""
    if state.ed25519 is None:
        return Check(
            "dkim",
            WARN,
            Text(f"{domain}: {ED25519_PENDING}", f"{domain}: dkim_ed25519 が有効ですが、Ed25519 鍵がまだありません"),
            Text("pyinfra -y inventory.py dkim_rotate.py", "pyinfra -y inventory.py dkim_rotate.py を実行してください"),
        )
    selector = dkim_model.ed25519_selector(state.signing)
    return Check(
        "dkim",
        WARN,
        Text(
            f"{domain}: the Ed25519 key {selector} waits for its record before it signs",
            f"{domain}: Ed25519 鍵 {selector} は DNS レコードの公開を待っていて、まだ署名していません",
        ),
        Text(
            "publish the record dns_report.py prints, then run dkim_rotate.py",
            "dns_report.py が表示するレコードを登録してから dkim_rotate.py を実行してください",
        ),
    )


def dns_checks(ctx: HostContext) -> list[Check]:
    """The live DNS, asked of the zones' own servers (dns_check)."""
    settings = ctx.settings
    if not settings.dns_check:
        return [
            Check(
                "dns", OK, Text("live DNS not asked (dns_check = false)", "DNS は確認していません（dns_check = false）")
            )
        ]
    from mailguard import dnscheck

    expected = dns_records.RecordInputs.from_settings(settings, dns.public_keys(ctx), dns.more_keys(ctx))
    resolver = authoritative.Authoritative(settings.dns_resolver, settings.dns_port, settings.dns_timeout)
    wrong = [f for f in dnscheck.check(expected, resolver) if not f.ok]
    if not wrong:
        return [
            Check(
                "dns",
                OK,
                Text("every record is published as it should be", "DNS のレコードはすべて正しく登録されています"),
            )
        ]
    return [
        Check(
            "dns",
            WARN,
            Text(
                f"{f.record.name} {f.record.type}: {f.status} ({f.detail})",
                f"{f.record.name} {f.record.type}: {f.status}（{f.detail}）",
            ),
            Text(
                "pyinfra -y inventory.py dns_report.py prints the value to publish",
                "登録すべき値は pyinfra -y inventory.py dns_report.py で表示されます",
            ),
        )
        for f in wrong
    ]


def checks(ctx: HostContext) -> list[Check]:
    settings = ctx.settings
    units = needed_units(ctx)
    answers = read(ctx, units)
    probe = health_lists.dnsbl_answers(answers)
    found = [
        *health.services(answers, units),
        health.milter(answers, layout.POSTFIX_MILTER),
        health.rspamd_ports(answers, MILTER_PORT, CONTROLLER_PORT),
        health.configtest(answers),
        health.signatures(answers, settings.antivirus),
        health.redis(answers),
        health_mail.bayes(answers, settings.bayes_min_learns),
        *dkim_checks(ctx),
        *dns_checks(ctx),
        health_mail.helo(answers, settings.mail_hostname),
        *health_lists.listed(probe, len(dnsbl.BLOCKLISTS), settings.server_ipv4),
        health_lists.blocklists(probe, bool(settings.spamhaus_dqs_key)),
        health_mail.queue(answers),
        health_mail.headroom(ctx.system, settings.antivirus),
        _traffic(ctx, answers),
    ]
    return [c for c in found if c is not None]


def _traffic(ctx: HostContext, answers: dict[str, list[str]]) -> health.Check:
    """rspamd's counts since a reading this controller kept from an earlier run (a day ago where
    there is one); this run's reading kept for the next."""
    current, key, now = health_mail.counters(answers), remembered.memory_key(), int(time.time())
    check = health_mail.traffic(current, remembered.recall_readings(ctx.target, key), now)
    if current is not None:
        remembered.remember_reading(ctx.target, key, [now, *current])
    return check


def report(ctx: HostContext) -> None:
    """Print this host's checks (in Japanese where the locale asks), and gather them for --json."""
    found = checks(ctx)
    language = health.language(os.environ)
    worst = health.exit_code(found)
    title = {0: "OK", 1: "WARN", 2: "FAIL"}[worst]
    print(f"\n--> mailguard status of {ctx.name}: {title}")
    for check in found:
        print("    " + check.line(language).replace("\n", "\n    "))
    print()
    out = os.environ.get(OUTPUT_ENV)
    if out:
        with Path(out).open("a", encoding="utf-8") as gathered:
            gathered.write(json.dumps({"host": ctx.name, "checks": [c.as_json(language) for c in found]}) + "\n")


def main(argv: list[str]) -> int:
    """``python status.py [--json] [pyinfra options]``: pyinfra runs status.py on the inventory's
    hosts; this prints their checks (with --json as one JSON document instead of pyinfra's output)
    and exits as a Nagios plugin does: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the run failed)."""
    import subprocess
    import sys
    import tempfile

    as_json = "--json" in argv
    options = [a for a in argv if a != "--json"]
    with tempfile.TemporaryDirectory() as directory:
        gathered = Path(directory) / "status.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "pyinfra", "-y", *options, "inventory.py", "status.py"],
            env={**os.environ, OUTPUT_ENV: str(gathered)},
            capture_output=as_json,
            text=True,
            check=False,
        )
        hosts = [json.loads(line) for line in gathered.read_text().splitlines()] if gathered.exists() else []
    if run.returncode != 0 or not hosts:
        if as_json:
            print(json.dumps({"hosts": hosts, "exit": 3, "error": (run.stderr or "").strip()[-2000:]}))
        return 3
    code = max((health.EXIT_CODES[c["status"]] for h in hosts for c in h["checks"]), default=0)
    if as_json:
        print(json.dumps({"hosts": hosts, "exit": code}, ensure_ascii=False, indent=2))
    return code
