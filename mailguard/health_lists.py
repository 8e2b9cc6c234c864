"""status.py's judgements of the blocklists: this server's address on the lists that list senders,
and whether every list rspamd asks answers its resolver."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from . import dnsbl
from .health import FAIL, OK, WARN, Check, Text, one


def dnsbl_answers(answers: Mapping[str, list[str]]) -> dict[str, str]:
    found = {}
    for line in one(answers, "dnsbl").splitlines():
        marker, _, rest = line.partition(" ")
        if marker == "@@dnsbl":
            key, _, value = rest.partition(" ")
            found[key] = value.strip()
    return found


# The lists that list sending IPs (a listing means mail from this server is refused or scored).
IP_LISTS = tuple(b for b in dnsbl.BLOCKLISTS if b.lists_senders)


def listing_names(address: str, dqs: bool) -> list[str]:
    """The query name for ``address`` on each IP list (reversed octets under the zone)."""
    reversed_ip = ".".join(reversed(address.split(".")))
    return [dataclasses.replace(b, test_point=reversed_ip).query_name(dqs) for b in IP_LISTS]


def listed(answers: Mapping[str, str], first: int, address: str | None) -> list[Check]:
    """This server's address on each IP list: answers ``first``, ``first + 1``, ... of the probe."""
    if not address:
        return [
            Check(
                "listing",
                OK,
                Text(
                    "no server_ipv4 set: this server's address is not looked up",
                    "server_ipv4 が未設定のため、このサーバーのアドレスは調べていません",
                ),
            )
        ]
    checks = []
    for n, blocklist in enumerate(IP_LISTS, first):
        answer = answers.get(str(n)) or ""
        if answer.startswith("rcode=3"):
            checks.append(
                Check(
                    "listing",
                    OK,
                    Text(f"{address} is not on {blocklist.zone}", f"{address} は {blocklist.zone} に載っていません"),
                )
            )
            continue
        status, shown = dnsbl.classify(blocklist, answer)
        if status == dnsbl.OK:
            checks.append(
                Check(
                    "listing",
                    FAIL,
                    Text(
                        f"{address} is listed on {blocklist.zone} ({shown}): mail from it is refused or marked",
                        f"{address} が {blocklist.zone} に載っています（{shown}）。"
                        "このサーバーからのメールは拒否されるか迷惑メール扱いになります",
                    ),
                    Text(
                        f"find why on {blocklist.zone}'s lookup page, fix it, and ask for delisting",
                        f"{blocklist.zone} の検索ページで理由を調べて直し、削除を依頼してください",
                    ),
                )
            )
        else:
            checks.append(
                Check(
                    "listing",
                    WARN,
                    Text(
                        f"{address} could not be looked up on {blocklist.zone}: {status} ({shown})",
                        f"{blocklist.zone} で {address} を調べられませんでした: {status}（{shown}）",
                    ),
                    Text(
                        'use resolver = "local" (the lists refuse public resolvers), or a Spamhaus DQS key',
                        'resolver = "local" にするか（公開リゾルバーは拒否されます）、'
                        "Spamhaus の DQS キーを使ってください",
                    ),
                )
            )
    return checks


def blocklists(answers: Mapping[str, str], dqs: bool) -> Check:
    results = [(b, *dnsbl.classify(b, answers.get(str(n)))) for n, b in enumerate(dnsbl.BLOCKLISTS)]
    failing = [f"{b.zone} ({status})" for b, status, _ in results if status != dnsbl.OK]
    if not failing:
        return Check(
            "blocklists",
            OK,
            Text(
                f"all {len(results)} blocklists answer rspamd",
                f"{len(results)} 個のブロックリストすべてが rspamd に応答しています",
            ),
        )
    shown = ", ".join(failing)
    return Check(
        "blocklists",
        WARN,
        Text(f"blocklists that do not answer rspamd: {shown}", f"rspamd に応答しないブロックリスト: {shown}"),
        Text(
            "pyinfra -y inventory.py dns_report.py explains each (docs/blocklists.md)",
            "pyinfra -y inventory.py dns_report.py で詳しく確かめられます（docs/blocklists.md）",
        ),
    )
