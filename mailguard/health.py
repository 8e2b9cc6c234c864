"""status.py's judgements: each check of a deployed host as OK, WARN or FAIL, with one line that
says what is wrong and one that says what to do, in English or Japanese.

Everything here is pure: it judges what the host answered (templates/tools/status.sh, parsed by
``parse``) and what the controller found (the DNS check). The exit code follows the Nagios plugin
convention: 0 all OK, 1 a warning, 2 a failure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from .directives import postfix_list

OK, WARN, FAIL = "OK", "WARN", "FAIL"
EXIT_CODES = {OK: 0, WARN: 1, FAIL: 2}  # Nagios: OK, WARNING, CRITICAL


@dataclass(frozen=True)
class Text:
    en: str
    ja: str

    def said(self, language: str) -> str:
        return self.ja if language == "ja" else self.en


@dataclass(frozen=True)
class Check:
    name: str  # what is checked, one word (for machines: --json)
    status: str  # OK, WARN or FAIL
    detail: Text
    fix: Text | None = None  # what to do, for anything that is not OK

    def line(self, language: str) -> str:
        text = f"{self.status:<4}  {self.detail.said(language)}"
        if self.fix:
            text += ("\n      対処: " if language == "ja" else "\n      fix: ") + self.fix.said(language)
        return text

    def as_json(self, language: str) -> dict:
        data = asdict(self)
        data["detail"] = self.detail.said(language)
        data["fix"] = self.fix.said(language) if self.fix else None
        return data


def exit_code(checks: Iterable[Check]) -> int:
    return max((EXIT_CODES[c.status] for c in checks), default=0)


def language(env: Mapping[str, str]) -> str:
    """Japanese where the locale asks for it (LC_ALL, then LC_MESSAGES, then LANG), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return "ja" if env[name].startswith("ja") else "en"
    return "en"


# --- what the host answered ---------------------------------------------------------------------


class AnswerError(ValueError):
    pass


def parse(lines: Iterable[str]) -> dict[str, list[str]]:
    """status.sh's answers: KEY -> each of its decoded values, in order. A line that is not an
    answer, or an answer cut short (no "end"), is an AnswerError: nothing is judged on it."""
    answers: dict[str, list[str]] = {}
    for line in lines:
        marker, _, rest = line.partition(" ")
        if marker != "@@status":
            raise AnswerError(f"the status read printed a line that is no answer: {line[:60]!r}")
        key, _, encoded = rest.partition(" ")
        try:
            value = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise AnswerError(f"the status read's {key} answer is not base64") from None
        answers.setdefault(key, []).append(value)
    if "end" not in answers:
        raise AnswerError("the status read was cut short")
    return answers


def one(answers: Mapping[str, list[str]], key: str) -> str:
    return (answers.get(key) or [""])[0]


# --- the checks -----------------------------------------------------------------------------------


def services(answers: Mapping[str, list[str]], needed: Mapping[str, str]) -> list[Check]:
    """``needed``: unit -> what it is for. Each must be active."""
    states = {}
    for value in answers.get("unit", []):
        unit, _, state = value.partition(" ")
        states[unit] = state
    checks = []
    for unit, what in needed.items():
        state = states.get(unit, "") or "unknown"
        if state == "active":
            checks.append(Check("service", OK, Text(f"{unit} is running ({what})", f"{unit} は動いています（{what}）")))
        else:
            checks.append(
                Check(
                    "service",
                    FAIL,
                    Text(f"{unit} is {state} ({what})", f"{unit} が止まっています（{state}、{what}）"),
                    Text(
                        f"systemctl start {unit}; journalctl -u {unit} says why it stopped",
                        f"systemctl start {unit} で起動し、止まった理由を journalctl -u {unit} で確かめてください",
                    ),
                )
            )
    return checks


def milter(answers: Mapping[str, list[str]], ours: str) -> Check:
    smtpd, local = one(answers, "milters"), one(answers, "non-smtpd-milters")
    rerun = Text(
        "rerun the deploy: it adds rspamd's milter back", "デプロイを再実行してください（rspamd の milter を戻します）"
    )
    if ours not in postfix_list(smtpd):
        return Check(
            "milter",
            FAIL,
            Text(
                f"Postfix does not hand mail to rspamd: smtpd_milters is {smtpd or 'empty'}",
                f"Postfix が rspamd にメールを渡していません（smtpd_milters = {smtpd or '空'}）",
            ),
            rerun,
        )
    if ours not in postfix_list(local):
        return Check(
            "milter",
            WARN,
            Text(
                "mail sent on this host (sendmail, cron) skips rspamd: non_smtpd_milters lacks its milter",
                "このサーバー上で送るメール（sendmail、cron）が rspamd を通りません（non_smtpd_milters）",
            ),
            rerun,
        )
    return Check(
        "milter",
        OK,
        Text("Postfix hands mail to rspamd's milter", "Postfix は rspamd の milter にメールを渡しています"),
    )


def listening_ports(answers: Mapping[str, list[str]]) -> set[int]:
    """The TCP ports something listens on, from the kernel's tables (/proc/net/tcp and tcp6: the
    local address's port in hex, state 0A is LISTEN)."""
    ports = set()
    for line in one(answers, "listening").splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return ports


def rspamd_ports(answers: Mapping[str, list[str]], milter_port: int, controller_port: int) -> Check:
    ports = listening_ports(answers)
    missing = [p for p in (milter_port, controller_port) if p not in ports]
    if not missing:
        return Check(
            "rspamd",
            OK,
            Text(
                f"rspamd listens on its milter ({milter_port}) and controller ({controller_port}) ports",
                f"rspamd は milter（{milter_port}）とコントローラー（{controller_port}）のポートで待ち受けています",
            ),
        )
    status = FAIL if milter_port in missing else WARN
    shown = ", ".join(map(str, missing))
    return Check(
        "rspamd",
        status,
        Text(f"rspamd does not listen on {shown}", f"rspamd がポート {shown} で待ち受けていません"),
        Text(
            "systemctl restart rspamd; journalctl -u rspamd says why",
            "systemctl restart rspamd で再起動し、理由は journalctl -u rspamd で確かめてください",
        ),
    )


def configtest(answers: Mapping[str, list[str]]) -> Check:
    code, _, output = one(answers, "configtest").partition(" ")
    said = [line for line in output.splitlines() if line.strip() and line.strip() != "syntax OK"]
    if code == "0" and not said:
        return Check("configtest", OK, Text("rspamadm configtest: syntax OK", "rspamadm configtest: syntax OK"))
    first = said[0] if said else output.strip()[:200]
    return Check(
        "configtest",
        FAIL if code != "0" else WARN,
        Text(f"rspamadm configtest says: {first}", f"rspamadm configtest の出力: {first}"),
        Text(
            "fix the file it names (a snippet of yours in rspamd_snippets?), then rerun the deploy",
            "表示されたファイル（rspamd_snippets の自作ファイルなど）を直して、デプロイを再実行してください",
        ),
    )


SIGNATURES_WARN_DAYS, SIGNATURES_FAIL_DAYS = 2, 7


def signatures(answers: Mapping[str, list[str]], antivirus: bool) -> Check | None:
    if not antivirus:
        return None
    now = float(one(answers, "now") or 0)
    official, local = (
        [float(line) for line in one(answers, key).splitlines() if line.strip()]
        for key in ("signatures", "local-signatures")
    )
    stamps = official or local  # ClamAV's own databases, else (a host that has none) the local ones
    update = Text(
        "check freshclam: systemctl status clamav-freshclam, and that the host reaches database.clamav.net",
        "freshclam を確認してください（systemctl status clamav-freshclam、database.clamav.net に届くか）",
    )
    if not stamps:
        return Check(
            "signatures", FAIL, Text("ClamAV has no signature database", "ClamAV の定義ファイルがありません"), update
        )
    days = (now - max(stamps)) / 86400
    age = Text(
        f"ClamAV's newest signatures are {days:.1f} days old",
        f"ClamAV の最新の定義ファイルは {days:.1f} 日前のものです",
    )
    if days > SIGNATURES_FAIL_DAYS:
        return Check("signatures", FAIL, age, update)
    if days > SIGNATURES_WARN_DAYS:
        return Check("signatures", WARN, age, update)
    return Check("signatures", OK, age)


def redis_info(text: str) -> dict[str, str]:
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def redis(answers: Mapping[str, list[str]]) -> Check:
    info = redis_info(one(answers, "redis"))
    if "redis_version" not in info:
        return Check(
            "redis",
            FAIL,
            Text("Redis does not answer on its socket", "Redis がソケットで応答しません"),
            Text(
                "systemctl restart the Redis unit; rspamd keeps scanning, but greylisting and Bayes stop",
                "Redis のユニットを再起動してください（止まっている間、グレイリストと Bayes は働きません）",
            ),
        )
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0) or 0)
    memory = f"{used / 2**20:.0f} MiB" + (f" of {limit / 2**20:.0f} MiB" if limit else "")
    if info.get("rdb_last_bgsave_status", "ok") != "ok":
        return Check(
            "redis",
            WARN,
            Text(
                f"Redis's last save failed ({memory} in memory)",
                f"Redis の最後の保存に失敗しています（使用メモリ {memory}）",
            ),
            Text(
                "check Redis's log and the free disk under its dir",
                "Redis のログと、保存先ディレクトリの空き容量を確認してください",
            ),
        )
    if info.get("role") == "slave" and info.get("master_link_status") != "up":
        return Check(
            "redis",
            WARN,
            Text("this replica's link to the group's primary is down", "プライマリとのレプリケーションが切れています"),
            Text(
                "check the primary's Redis and the private network between the hosts",
                "プライマリの Redis と、ホスト間のプライベートネットワークを確認してください",
            ),
        )
    if limit and used > 0.9 * limit:
        return Check(
            "redis",
            WARN,
            Text(f"Redis is near its memory limit ({memory})", f"Redis のメモリが上限に近づいています（{memory}）"),
            Text(
                "raise maxmemory, or let Bayes expire old tokens",
                "maxmemory を上げるか、Bayes の古いトークンを期限切れにしてください",
            ),
        )
    saved = int(info.get("rdb_last_save_time", 0) or 0)
    now = int(float(one(answers, "now") or 0))
    ago = f", last saved {(now - saved) / 3600:.1f} h ago" if saved else ""
    ago_ja = f"、最後の保存は {(now - saved) / 3600:.1f} 時間前" if saved else ""
    return Check(
        "redis", OK, Text(f"Redis answers ({memory}{ago})", f"Redis は応答しています（使用メモリ {memory}{ago_ja}）")
    )
