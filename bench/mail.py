"""What the mail itself costs: `./run bench --mail` (issue #38). A measurement: it prints and writes
its numbers, and never fails on them.

On a fresh sandbox with the deploy applied, one stream of messages (bench/mailshapes.py: plain,
HTML, a 120 kB attachment, Japanese ISO-2022-JP and UTF-8) is sent over SMTP by several clients at
once, each as an outside client (XCLIENT), through Postfix's milter to rspamd (and ClamAV), and
delivered into a mailbox. For each setup, side by side in one run:

- ``deploy``: the deploy as it is;
- each of its choices turned off in turn (``--costs``): ClamAV, local fuzzy;
- ``stock rspamd``: the same packages with the deploy's rspamd files moved aside (rspamd as it
  ships, its resolver pointed at the same local answers);
- ``no milter``: Postfix alone, the floor.

The three main setups are measured in rounds, in turn (the machine's speed drifts), each stream
after a warm-up and once this machine is quiet; the medians are reported. It reports messages per
second at saturation (the stream sent to the last delivery), the scan
time rspamd logged for each message (p50 and p99), and the resident memory of rspamd, clamd and
Redis at rest and at the peak of the stream.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import mailshapes
from bench.run import wait_until_quiet
from sandbox import host as sandbox
from sandbox import probes

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
USER = "bob"
SERVICES = ("rspamd", "clamd", "redis-server")
RSPAMD_DIRS = ("/etc/rspamd/local.d", "/etc/rspamd/override.d")
ASIDE = "/root/bench-mail-aside"
# The deploy's choices measured by turning each off: a settings line each.
# (Not the local resolver: the sandbox reaches no DNS but its unbound's refusals, so the system
# resolver it would be compared with does not answer at all here.)
COSTS = {"no ClamAV": "antivirus = false", "no local fuzzy": "local_fuzzy = false"}


def pyinfra(env: dict, settings_lines: str = "") -> None:
    settings = Path(env["MAILGUARD_BENCH_DIR"]) / "settings.toml"
    settings.write_text((ROOT / "sandbox" / "settings.toml").read_text() + "\n" + settings_lines + "\n")
    result = subprocess.run(
        [PYINFRA, "-y", "inventory.py", "deploy.py"], cwd=ROOT, env={**env, "MAIL_SETTINGS": str(settings)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"bench: the deploy failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _client(target: probes.Target, messages: list[tuple[bytes, str]]) -> int:
    """One SMTP client sending its share over one session; returns how many were accepted."""
    accepted = 0
    with smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=120) as smtp:
        smtp.ehlo(probes.CLIENT_HELO)
        smtp.docmd("XCLIENT", f"ADDR={probes.EXTERNAL_CLIENT} NAME=[UNAVAILABLE] HELO={probes.CLIENT_HELO}")
        smtp.ehlo(probes.CLIENT_HELO)
        for raw, _token in messages:
            try:
                smtp.sendmail("sender@outside.example.net", [f"{USER}@example.com"], raw)
                accepted += 1
            except smtplib.SMTPException:
                smtp.rset()
    return accepted


def _delivered(target: probes.Target) -> int:
    return int(target.sh(f"find /home/{USER}/Maildir/new -type f | wc -l").strip() or 0)


def _rss_mib(target: probes.Target) -> float:
    text = target.sh(f"ps -C {','.join(SERVICES)} -o rss= 2>/dev/null || true")
    return round(sum(int(v) for v in text.split()) / 1024, 1)


def _scan_times(target: probes.Target, tokens: set[str]) -> list[float]:
    """The scan time rspamd logged for each message of the stream (its task line: "time: N.NNNms")."""
    pattern = "bench[0-9a-f]*@[^>]*>.*time: [0-9.]*ms"
    text = target.sh(f"grep -h 'bench[0-9]' /var/log/rspamd/rspamd.log | grep -o '{pattern}'", check=False)
    times = {}
    for line in text.splitlines():
        found = re.match(r"(bench[0-9a-f]+)@.*time: ([0-9.]+)ms", line)
        if found and found.group(1) in tokens:
            times[found.group(1)] = float(found.group(2))
    return list(times.values())


def measure(target: probes.Target, count: int, clients: int, offset: int) -> dict:
    """The stream sent by ``clients`` at once; waits for the last delivery."""
    target.sh(f"rm -rf /home/{USER}/Maildir/new/* /home/{USER}/Maildir/cur/*; postsuper -d ALL >/dev/null 2>&1; true")
    messages = mailshapes.stream(count, offset)
    at_rest = _rss_mib(target)
    total = "awk '{s+=$1} END {print s}'"
    sampler = f"while :; do ps -C {','.join(SERVICES)} -o rss= | {total} >> /root/bench-rss; sleep 0.5; done"
    target.sh(f"rm -f /root/bench-rss; ({sampler}) >/dev/null 2>&1 & echo $! > /root/bench-rss.pid")
    started = time.monotonic()
    shares = [messages[i::clients] for i in range(clients)]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(lambda share: _client(target, share), shares))
    sent = time.monotonic() - started
    while _delivered(target) < accepted and time.monotonic() - started < 600:
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    peak = target.sh("kill $(cat /root/bench-rss.pid); sort -n /root/bench-rss | tail -1").strip()
    times = sorted(_scan_times(target, {token for _raw, token in messages}))
    quantile = statistics.quantiles(times, n=100) if len(times) > 1 else [0.0] * 99
    return {
        "messages": count,
        "accepted": accepted,
        "delivered": _delivered(target),
        "sent in s": round(sent, 2),
        "messages/s": round(accepted / elapsed, 1),
        "scan ms p50": round(statistics.median(times), 1) if times else None,
        "scan ms p99": round(quantile[98], 1) if times else None,
        "scans logged": len(times),
        "RSS MiB at rest": at_rest,
        "RSS MiB peak": round(int(peak or 0) / 1024, 1),
    }


def stock_rspamd(target: probes.Target, on: bool) -> None:
    """rspamd as it ships (the deploy's local.d and override.d moved aside), or the deploy's again."""
    if on:
        aside = f"for d in {' '.join(RSPAMD_DIRS)}; do mv $d {ASIDE}/$(basename $d); mkdir $d; done"
        target.sh(f"mkdir -p {ASIDE} && {aside}; cp /etc/resolv.conf /root/bench-resolv.conf; "
                  "echo 'nameserver 127.0.0.153' > /etc/resolv.conf; systemctl restart rspamd")  # fmt: skip
    else:
        target.sh(f"for d in {' '.join(RSPAMD_DIRS)}; do rm -rf $d; mv {ASIDE}/$(basename $d) $d; done; "
                  "cp /root/bench-resolv.conf /etc/resolv.conf; systemctl restart rspamd")  # fmt: skip
    _wait_for_rspamd(target)


def _wait_for_rspamd(target: probes.Target) -> None:
    """rspamd answering, then this machine quiet (rspamd compiles its expressions after a start)."""
    deadline = time.monotonic() + 120
    ping = "curl -s --max-time 2 http://127.0.0.1:11333/ping || true"  # the normal worker: it scans
    while "pong" not in target.sh(ping) and time.monotonic() < deadline:
        time.sleep(0.5)
    wait_until_quiet(limit=60)


def no_milter(target: probes.Target, on: bool) -> None:
    if on:
        target.sh("postconf smtpd_milters non_smtpd_milters > /root/bench-milters; "
                  "postconf -e smtpd_milters= non_smtpd_milters= && postfix reload >/dev/null 2>&1")  # fmt: skip
    else:
        restore = 'while IFS= read -r line; do postconf -e "$line"; done < /root/bench-milters'
        target.sh(f"{restore}; postfix reload >/dev/null 2>&1")


SETUPS = ("deploy", "stock rspamd", "no milter")  # measured in turn, each round


def _setup(target: probes.Target, label: str, on: bool) -> None:
    if label == "stock rspamd":
        stock_rspamd(target, on)
    elif label == "no milter":
        no_milter(target, on)


def _median(runs: list[dict]) -> dict:
    """Each number's median over the rounds (the first run's counts as they were)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        values = [run[key] for run in runs if isinstance(run[key], (int, float))]
        if isinstance(value, float) and len(values) == len(runs):
            out[key] = round(statistics.median(values), 1)
    out["rounds"] = len(runs)
    out["messages/s (each round)"] = [run["messages/s"] for run in runs]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench --mail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="messages in each stream")
    parser.add_argument("--clients", type=int, default=8, help="SMTP clients sending at once")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the deploy, stock rspamd and no milter, in turn"
    )
    parser.add_argument("--costs", action="store_true", help="also each of the deploy's choices turned off (once each)")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "mail-bench.json"))
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="mailguard-mail-bench-"))
    env = {
        **os.environ,
        **sandbox.secrets_env(),
        "MAIL_DNS_DIR": str(scratch / "dns"),
        "MAILGUARD_BENCH_DIR": str(scratch),
    }
    sandbox.down()
    state = sandbox.up()
    target = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    runs: dict[str, list[dict]] = {}
    offset = 0

    def run(label: str) -> None:
        nonlocal offset
        measure(target, 50, args.clients, offset + 900_000)  # warm-up, not counted
        runs.setdefault(label, []).append(measure(target, args.messages, args.clients, offset))
        offset += args.messages
        print(f"  {label:<16} {runs[label][-1]}", flush=True)

    try:
        pyinfra(env)
        _wait_for_rspamd(target)
        for _ in range(args.rounds):  # interleaved: the machine's drift falls on each alike
            for label in SETUPS:
                _setup(target, label, True)
                run(label)
                _setup(target, label, False)
        for label, line in COSTS.items() if args.costs else ():
            pyinfra(env, line)
            _wait_for_rspamd(target)
            run(label)
        if args.costs:
            pyinfra(env)
    finally:
        sandbox.down()
    results = {label: _median(values) for label, values in runs.items()}
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sandbox": f"Debian {sandbox.release()} systemd container, SMTP over loopback",
        "machine": f"{os.cpu_count()} cores",
        "stream": f"{args.messages} messages ({', '.join(mailshapes.SHAPES)} in turn), {args.clients} clients",
        "setups": results,
    }
    deploy, stock = results["deploy"], results["stock rspamd"]
    table["deploy / stock rspamd, messages/s"] = round(deploy["messages/s"] / stock["messages/s"], 2)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n")
    print("\nmedians:")
    for label, result in results.items():
        print(f"  {label:<16} {result}")
    print(f"  deploy / stock rspamd, messages/s: {table['deploy / stock rspamd, messages/s']}")
    print(f"  written: {path}")
    return 0
