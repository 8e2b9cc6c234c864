"""status.py's judgements of the mail flowing through the host: Bayes's learning, Postfix's queue
and HELO name, room for ClamAV, and rspamd's counters (mailguard/health.py has the rest)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from . import capacity
from .health import FAIL, OK, WARN, Check, Text, one


def bayes(answers: Mapping[str, list[str]], min_learns: int) -> Check:
    spam, ham = (int(one(answers, f"learned-{c}") or 0) for c in ("spam", "ham"))
    if spam >= min_learns and ham >= min_learns:
        return Check(
            "bayes",
            OK,
            Text(
                f"Bayes scores: it learned {spam} spam and {ham} ham",
                f"Bayes はスコアに使われています（学習済み: スパム {spam}、ハム {ham}）",
            ),
        )
    return Check(
        "bayes",
        OK,
        Text(
            f"Bayes does not score yet: it learned {spam} spam and {ham} ham of the {min_learns} each it needs "
            "(learn.py, or users moving mail into and out of Junk)",
            f"Bayes はまだスコアに使われません（学習済み: スパム {spam}、ハム {ham}。それぞれ {min_learns} 通必要です。"
            "learn.py か、Junk への出し入れで学習します）",
        ),
    )


QUEUE_FAIL_HOURS = 24  # a deferred message warns; one deferred this long fails


def queue(answers: Mapping[str, list[str]]) -> Check:
    size = int(one(answers, "queue-size").strip() or 0)
    now = float(one(answers, "now") or 0)
    deferred = []
    for line in one(answers, "queue").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("queue_name") == "deferred":
            deferred.append(message)
    if not deferred:
        return Check(
            "queue",
            OK,
            Text(
                f"Postfix's queue holds {size} messages, none deferred",
                f"Postfix のキューは {size} 通で、遅延しているメールはありません",
            ),
        )
    oldest = min(deferred, key=lambda m: m.get("arrival_time", now))
    hours = (now - oldest.get("arrival_time", now)) / 3600
    reason = next((r.get("delay_reason") for r in oldest.get("recipients", []) if r.get("delay_reason")), "unknown")
    detail = Text(
        f"Postfix's queue holds {size} messages, {len(deferred)} deferred; the oldest for {hours:.1f} h: {reason}",
        f"Postfix のキューに {size} 通、うち {len(deferred)} 通が遅延しています。"
        f"最も古いものは {hours:.1f} 時間前から: {reason}",
    )
    fix = Text(
        "the reason above says why (a remote server, DNS, rspamd's milter); postqueue -p lists them",
        "上の理由を確認してください（相手のサーバー、DNS、rspamd の milter など）。一覧は postqueue -p で見られます",
    )
    if hours >= QUEUE_FAIL_HOURS:
        return Check("queue", FAIL, detail, fix)
    return Check("queue", WARN, detail, fix)


def headroom(system: Mapping, antivirus: bool) -> Check:
    verdict = capacity.assess(system.get("mem_kib"), system.get("swap_kib"), system.get("disk_free_kib"), antivirus)
    mem, disk = system.get("mem_kib") or 0, system.get("disk_free_kib") or 0
    numbers = f"{mem / 2**20:.1f} GiB memory, {disk / 2**20:.1f} GiB free on /var"
    numbers_ja = f"メモリ {mem / 2**20:.1f} GiB、/var の空き {disk / 2**20:.1f} GiB"
    if verdict.refuse:
        return Check(
            "headroom",
            FAIL,
            Text(verdict.refuse, f"資源が足りません: {numbers_ja}"),
            Text("add swap or memory, or free disk", "スワップかメモリを増やすか、ディスクを空けてください"),
        )
    if verdict.warnings:
        return Check(
            "headroom",
            WARN,
            Text(verdict.warnings[0], f"資源に余裕がありません: {numbers_ja}"),
            Text("add swap or memory", "スワップかメモリを増やしてください"),
        )
    return Check("headroom", OK, Text(f"room for ClamAV: {numbers}", f"ClamAV に十分な資源があります（{numbers_ja}）"))


def counters(answers: Mapping[str, list[str]]) -> tuple[int, int, int] | None:
    """rspamd's own counters as it saves them (stats.ucl): (scanned, spam, greylisted) since they
    began; None when it has saved none (or what it saved does not parse)."""
    try:
        stat = json.loads(one(answers, "counters"))
        actions = stat.get("actions") or {}
        spam = sum(int(actions.get(a, 0)) for a in ("reject", "add header", "rewrite subject"))
        greylisted = int(actions.get("greylist", 0)) + int(actions.get("soft reject", 0))
        found = (int(stat["scanned"]), spam, greylisted)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return found if min(found) >= 0 else None


DAY = 86400


def traffic(current: tuple[int, int, int] | None, earlier: list[list[int]], now: int) -> Check:
    """The counts since an earlier reading (``earlier``: [time, scanned, spam, greylisted] each, as
    status.py kept them): the newest at least a day old, else the oldest. Without one, the totals."""
    if current is None:
        return Check(
            "traffic", OK, Text("rspamd has saved no counters yet", "rspamd はまだカウンターを保存していません")
        )
    # a reading the counters went below was taken before they began again: not a base
    usable = [r for r in earlier if r[0] < now and all(c >= p for c, p in zip(current, r[1:], strict=True))]
    day_old = [r for r in usable if now - r[0] >= DAY]
    base = max(day_old) if day_old else min(usable, default=None)
    if base is None:
        scanned, spam, greylisted = current
        return Check(
            "traffic",
            OK,
            Text(
                f"rspamd has scanned {scanned} messages since its counters began: {spam} spam, {greylisted} "
                "greylisted (a day's counts once status.py has run a day earlier)",
                f"rspamd の検査数（カウンター開始から）: {scanned} 通（スパム {spam} 通、グレイリスト {greylisted} 通）"
                "。1日前にも status.py を実行していれば、1日分の数を表示します",
            ),
        )
    scanned, spam, greylisted = (c - p for c, p in zip(current, base[1:], strict=True))
    hours = round((now - base[0]) / 3600)
    return Check(
        "traffic",
        OK,
        Text(
            f"rspamd has scanned {scanned} messages in the last {hours} h: {spam} spam, {greylisted} greylisted",
            f"直近 {hours} 時間の rspamd の検査数: {scanned} 通（スパム {spam} 通、グレイリスト {greylisted} 通）",
        ),
    )


def helo(answers: Mapping[str, list[str]], mail_hostname: str) -> Check:
    name = one(answers, "helo").strip()
    if name == mail_hostname:
        return Check(
            "helo",
            OK,
            Text(
                f"Postfix says HELO {name}, the mail host's name",
                f"Postfix は HELO で {name}（メールサーバー名）を名乗っています",
            ),
        )
    return Check(
        "helo",
        WARN,
        Text(
            f"Postfix says HELO {name or '(nothing)'}, not {mail_hostname}",
            f"Postfix は HELO で {name or '（なし）'} を名乗っています（{mail_hostname} ではありません）",
        ),
        Text(
            f"postconf -e myhostname={mail_hostname}; systemctl reload postfix",
            f"postconf -e myhostname={mail_hostname} のあと systemctl reload postfix",
        ),
    )
