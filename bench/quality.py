"""How much spam the deployed filter catches, and how much real mail it flags by mistake:
`./run bench --quality` (issue #39). A measurement: it prints and writes its numbers, and never
fails on them (the quick version in tests/e2e/test_zy_quality.py holds the line).

On a fresh sandbox with Dovecot and the deploy applied, for each fold of the allowed corpus
(bench/corpus.py: spam-1, easy-ham-1 and the first 125 files of hard-ham-1, split in folds by a
fixed seed):

1. rspamd's Redis emptied and the user's mailbox filled as a user's would be: the training spam in
   Junk, the training ham (easy and hard) in INBOX;
2. the held-out fold scanned through rspamd as from an outside client (before learning);
3. `learn.py` run as an admin runs it, and its batch lines added up;
4. the held-out fold scanned again (after learning);
5. SpamAssassin (Debian's package, local tests only, its Bayes taught the same training mail with
   sa-learn, its own threshold 5) scanning the same fold, as the yardstick.

Flagged means the score reached the seed's add_header score. The table gives spam flagged, easy
and hard ham flagged, for each system, and the symbols of the misses.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench import corpus
from mailguard import layout
from sandbox import dovecot, probes
from sandbox import host as sandbox

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
USER, PASSWORD = "quality", "quality-Imap-Pa55"
HOST_DIR = "/root/quality"
ADD_HEADER = 10.0  # the seed's add_header score: what "flagged" means
SA_THRESHOLD = 5.0  # SpamAssassin's own required_score
SA_CONFIG = """# the quality bench: local tests, Bayes taught only by sa-learn
use_bayes 1
bayes_auto_learn 0
bayes_path /var/lib/quality-sa/bayes
bayes_file_mode 0666
"""
CLASSES = ("spam", "easy", "hard")
# Bayes learns only what learn.py teaches it: with the deploy's autolearn, held-out spam scanned
# past the greylist score would be learned while the fold is judged (a campaign's first message
# teaching Bayes its next), and SpamAssassin's Bayes autolearning is off.
BENCH_SETTINGS = "bayes_autolearn = false"
REDIS_SOCKET = "/run/redis/redis.sock"  # Debian's, on every release the sandbox boots


def _tar(messages: dict[str, dict[str, bytes]]) -> bytes:
    """A tar of ``messages`` (directory -> name -> raw message), for one upload."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for directory, items in messages.items():
            for name, raw in items.items():
                info = tarfile.TarInfo(f"{directory}/{name.replace('/', '-')}")
                info.size = len(raw)
                archive.addfile(info, io.BytesIO(raw))
    return data.getvalue()


def upload(target: probes.Target, where: str, messages: dict[str, dict[str, bytes]]) -> None:
    subprocess.run(
        [*target.ssh, f"rm -rf {where} && mkdir -p {where} && tar -x -C {where}"],
        input=_tar(messages),
        check=True,
        capture_output=True,
    )


def pyinfra(env: dict, deploy: str) -> str:
    result = subprocess.run(
        [PYINFRA, "-y", "inventory.py", deploy], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"quality: pyinfra {deploy} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout + result.stderr


def scan(target: probes.Target, how: str, directory: str) -> list[dict]:
    lines = target.sh(f"python3 {HOST_DIR}/scan.py {how} {directory}", timeout=1800).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def judged(results: list[dict], threshold: float) -> dict:
    """Per class: how many scanned, how many flagged, and the symbols of the misses."""
    by_class: dict[str, dict] = {}
    for kind in CLASSES:
        mine = [r for r in results if r["name"].startswith(f"{kind}/")]
        flagged = [r for r in mine if r["score"] >= threshold]
        wrong = [r for r in mine if r not in flagged] if kind == "spam" else flagged
        symbols: collections.Counter = collections.Counter()
        for r in wrong:
            symbols.update(
                {s: 1 for s, score in r["symbols"].items() if (score > 0) == (kind != "spam") and score != 0}
            )
        by_class[kind] = {
            "scanned": len(mine),
            "flagged": len(flagged),
            "misses": [r["name"] for r in wrong],
            "miss_symbols": symbols.most_common(12),
        }
    return by_class


def reset(target: probes.Target, redis_socket: str) -> None:
    """rspamd's Redis emptied (Bayes, its learn cache, greylisting), learn.py's record of what it
    taught removed (folds share training mail) and the user's mailbox emptied."""
    target.sh(
        f"{probes.REDIS_CLI} -s {redis_socket} FLUSHALL >/dev/null; rm -f {shlex.quote(layout.LEARNED_RECORD)}; "
        "systemctl restart rspamd; "
        f"for box in INBOX Junk; do doveadm expunge -u {USER} mailbox $box all 2>/dev/null || true; done; "
        f"doveadm mailbox create -u {USER} Junk 2>/dev/null || true"
    )
    target.sh("for i in $(seq 60); do rspamc stat >/dev/null 2>&1 && break; sleep 0.5; done")


def fill(target: probes.Target, fold: corpus.Fold) -> None:
    """Training mail where a user keeps it: spam in Junk, ham in INBOX (doveadm save, as delivery would)."""
    upload(target, f"{HOST_DIR}/train", {"Junk": fold.train_spam, "INBOX": fold.train_ham})
    target.sh(
        f"cd {HOST_DIR}/train && for box in Junk INBOX; do for f in $box/*; do "
        f'doveadm save -u {USER} -m $box < "$f"; done; done'
    )


def learned_totals(output: str) -> dict[str, int]:
    """learn.py's batch lines for the bench's user added up (a sandbox the tests used has other
    users): learned, each reason to skip, failed, per class and pass ("ham" for the bootstrap's
    ham, "ham errors" for the check after it, learning the ham Bayes takes for spam)."""
    totals: collections.Counter = collections.Counter()
    pattern = (
        rf"\] {USER} \S+ as (spam|ham) \((all|errors)\): learned (\d+); skipped (\d+) learned before, "
        r"(\d+) already classified so, (\d+) too short; failed (\d+)"
    )
    kinds = ("learned", "learned before", "already classified", "too short", "failed")
    for kind, which, *counts in re.findall(pattern, output):
        for what, n in zip(kinds, counts, strict=True):
            totals[f"{kind}{' errors' if which == 'errors' else ''} {what}"] += int(n)
    return dict(totals)


def spamassassin(target: probes.Target, fold: corpus.Fold, number: int, key: str) -> list[dict]:
    """SpamAssassin's verdicts on the fold, kept in the corpus cache (they do not depend on the deploy)."""
    cached = corpus.cache_dir() / f"spamassassin-{key}-fold{number}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    target.sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q spamassassin spamc >/tmp/sa-apt.log 2>&1 "
        "|| { tail -20 /tmp/sa-apt.log; exit 1; }; "
        "command -v spamd >/dev/null || "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q spamd >>/tmp/sa-apt.log 2>&1; "
        f"mkdir -p -m 777 /var/lib/quality-sa && rm -f /var/lib/quality-sa/bayes*; "
        f"printf %s {shlex.quote(SA_CONFIG)} > /etc/spamassassin/zz-quality.cf; "
        "systemctl disable --now spamd.service spamassassin.service >/dev/null 2>&1; pkill -x spamd; sleep 1; "
        f"sa-learn --spam {HOST_DIR}/train/Junk >/dev/null && sa-learn --ham {HOST_DIR}/train/INBOX >/dev/null && "
        "spamd -L -d -m 4 -u nobody --pidfile /run/quality-spamd.pid && "
        "for i in $(seq 120); do echo x | spamc -c >/dev/null 2>&1 && break; sleep 0.5; done"
    )
    results = scan(target, "spamc", f"{HOST_DIR}/validate")
    target.sh("pkill -x spamd || true")
    cached.write_text(json.dumps(results))
    return results


def rate(part: dict) -> str:
    return (
        f"{100 * part['flagged'] / part['scanned']:.1f}% ({part['flagged']}/{part['scanned']})"
        if part["scanned"]
        else "-"
    )


def table(rows: dict[str, dict]) -> str:
    lines = ["| | spam flagged | easy ham flagged | hard ham flagged |", "|---|---|---|---|"]
    for label, parts in rows.items():
        lines.append(f"| {label} | " + " | ".join(rate(parts[k]) for k in CLASSES) + " |")
    return "\n".join(lines)


def merged(folds: list[dict]) -> dict:
    return {
        k: {
            "scanned": sum(f[k]["scanned"] for f in folds),
            "flagged": sum(f[k]["flagged"] for f in folds),
            "misses": [m for f in folds for m in f[k]["misses"]],
            "miss_symbols": sum(
                (collections.Counter(dict(f[k]["miss_symbols"])) for f in folds), collections.Counter()
            ).most_common(12),
        }
        for k in CLASSES
    }


def prepare(target: probes.Target, env: dict) -> None:
    """Dovecot with the bench's user, the deploy run (it finds Dovecot), the scanner on the host."""
    dovecot.install(target, USER, PASSWORD)
    pyinfra(env, "deploy.py")
    put_scanner(target)


def put_scanner(target: probes.Target) -> None:
    """bench/scan.py on the host, where scan() runs it."""
    subprocess.run([*target.ssh, f"mkdir -p {HOST_DIR} && cat > {HOST_DIR}/scan.py"],
                   input=(ROOT / "bench" / "scan.py").read_bytes(), check=True)  # fmt: skip


RAW: dict[str, list] = {}  # each scan's results per message (symbols and scores), for --raw


def run_fold(target: probes.Target, env: dict, fold: corpus.Fold) -> tuple[dict, dict, dict[str, int]]:
    """One fold from an empty Redis: (judged before learning, judged after learn.py, what it learned)."""
    reset(target, REDIS_SOCKET)
    upload(target, f"{HOST_DIR}/validate", {"spam": fold.spam, "easy": fold.easy, "hard": fold.hard})
    before = scan(target, "rspamd", f"{HOST_DIR}/validate")
    fill(target, fold)
    learned = learned_totals(pyinfra(env, "learn.py"))
    # The fuzzy storage applies what it is given once a minute (its sync): a campaign's later
    # messages arrive minutes after the first is filed, the held-out ones right away.
    target.sh("rspamadm control fuzzysync >/dev/null")
    after = scan(target, "rspamd", f"{HOST_DIR}/validate")
    RAW.setdefault("before", []).append(before)
    RAW.setdefault("after", []).append(after)
    return judged(before, ADD_HEADER), judged(after, ADD_HEADER), learned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench --quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small fold (what the test command runs)")
    parser.add_argument("--folds", type=int, default=0, help="only the first N folds (an experiment)")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "quality.json"))
    parser.add_argument("--label", default="")
    parser.add_argument("--settings", default="", help="settings lines added to the sandbox's (an experiment)")
    parser.add_argument("--no-spamassassin", action="store_true", help="leave out the yardstick")
    parser.add_argument("--keep", action="store_true", help="reuse the running sandbox (deployed with Dovecot)")
    parser.add_argument("--raw", help="where to write every message's symbols and scores (outside the repository)")
    parser.add_argument("--lua", help="a Lua file put in rspamd's lua.local.d after the deploy (an experiment)")
    args = parser.parse_args(argv)
    folds = corpus.folds(quick=args.quick)[: args.folds or None]
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="mailguard-quality-"))
    settings = scratch / "settings.toml"
    settings.write_text(
        (ROOT / "sandbox" / "settings.toml").read_text() + "\n" + BENCH_SETTINGS + "\n" + args.settings + "\n"
    )
    env = {**os.environ, **sandbox.secrets_env(), "MAIL_SETTINGS": str(settings), "MAIL_DNS_DIR": str(scratch / "dns")}
    if not args.keep:
        sandbox.down()
        sandbox.up()
    target = probes.Target(ssh=sandbox.ssh_command(sandbox.state() or {}, "")[:-1])
    prepare(target, env)
    if args.lua:  # read by rspamd when each fold restarts it
        destination = f"/etc/rspamd/lua.local.d/{Path(args.lua).name}"
        subprocess.run([*target.ssh, f"mkdir -p /etc/rspamd/lua.local.d && cat > {shlex.quote(destination)}"],
                       input=Path(args.lua).read_bytes(), check=True)  # fmt: skip
    results: dict[str, list[dict]] = {"before": [], "after": [], "spamassassin": []}
    learned: collections.Counter = collections.Counter()
    for number, fold in enumerate(folds):
        before, after, taught = run_fold(target, env, fold)
        results["before"].append(before)
        results["after"].append(after)
        learned.update(taught)
        print(f"fold {number + 1}: learned {taught}\n{table({'before': before, 'after learn.py': after})}", flush=True)
        if args.raw:  # kept as each fold ends: a later failure loses nothing measured
            Path(args.raw).write_text(json.dumps(RAW))
        if not args.no_spamassassin:
            key = f"{'quick' if args.quick else 'full'}-{corpus.FOLDS}-{corpus.SEED}"
            sa = spamassassin(target, fold, number, key)
            results["spamassassin"].append(judged(sa, SA_THRESHOLD))
    rows = {
        "rspamd, before learning": merged(results["before"]),
        "rspamd, after learn.py": merged(results["after"]),
    }
    if results["spamassassin"]:
        rows["SpamAssassin, same training, local tests, threshold 5"] = merged(results["spamassassin"])
    print(f"\nquality ({'quick' if args.quick else 'full'}, {len(folds)} folds, {time.monotonic() - started:.0f} s) "
          f"{args.label}\n{table(rows)}")  # fmt: skip
    print(f"learn.py: {dict(learned)}")
    after = rows["rspamd, after learn.py"]
    print(f"spam missed, its symbols: {after['spam']['miss_symbols']}")
    print(f"hard ham flagged, its symbols: {after['hard']['miss_symbols']}")
    print(f"easy ham flagged, its symbols: {after['easy']['miss_symbols']}")
    if args.raw:
        Path(args.raw).write_text(json.dumps(RAW))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"label": args.label, "settings": args.settings, "learned": dict(learned), **rows}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
