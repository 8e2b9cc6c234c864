"""What a rerun costs: `./run bench` (or `python -m bench.run`), against a fresh sandbox.

In one run: the first deploy from a bare host (Debian 12 + Postfix), the no-op rerun several
times (median), the no-op rerun's remote commands (counted at --debug), a 1-operation pyinfra
run against the same host as the floor, and the peak RSS (VmHWM) of rspamd, clamd and redis
after the deploy.  Prints one table and writes it as JSON (--json, default
artifacts/bench.json).  It is a measurement, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyinfra

from sandbox import host as sandbox
from sandbox import probes, results

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
SERVICES = {"rspamd": "rspamd", "clamd": "clamd", "redis": "redis-server"}


def timed(env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    result = subprocess.run(
        [PYINFRA, "-y", "inventory.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"bench: pyinfra {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed, result


def operations_and_changes(output: str) -> tuple[int, int]:
    """(operations, operations that changed something) from pyinfra's Results table."""
    rows = results.operations(output)
    return len(rows), sum(changed for _name, changed in rows)


def peak_rss_mib(target: probes.Target) -> dict[str, dict]:
    """Per service, from VmHWM (peak resident set): its largest process, and the sum over its
    processes (an upper bound: pages the workers share are counted once per process)."""
    out = {}
    for label, comm in SERVICES.items():
        text = target.sh(f"for p in $(pgrep -x {comm}); do grep VmHWM /proc/$p/status; done")
        peaks = [int(line.split()[1]) / 1024 for line in text.splitlines() if line.strip()]
        out[label] = {"largest": round(max(peaks, default=0), 1), "sum": round(sum(peaks), 1), "processes": len(peaks)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reruns", type=int, default=5, help="no-op reruns to time (median)")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "bench.json"), help="where to write the table")
    parser.add_argument("--label", default="", help="a name for this measurement (e.g. before/after)")
    args = parser.parse_args(argv)
    reason = sandbox.unsupported_reason()
    if reason:
        print(f"bench: the sandbox cannot run here: {reason}", file=sys.stderr)
        return 1
    sandbox.down()
    state = sandbox.up()
    target = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    env = {**os.environ, **sandbox.secrets_env(), "MAIL_DNS_DIR": str(ROOT / "artifacts" / "dns-records")}
    try:
        first, result = timed(env, "deploy.py")
        ops, first_changed = operations_and_changes(result.stdout + result.stderr)
        reruns = []
        for _ in range(args.reruns):
            elapsed, result = timed(env, "deploy.py")
            reruns.append(elapsed)
            _ops, changed = operations_and_changes(result.stdout + result.stderr)
            if changed:
                sys.exit(f"bench: the rerun changed {changed} operations: it is not a no-op")
        _t, debug = timed(env, "deploy.py", "--debug")
        commands = (debug.stdout + debug.stderr).count("Command exit status:")
        floors = [timed(env, "exec", "--", "true")[0] for _ in range(3)]
        rss = peak_rss_mib(target)
    finally:
        sandbox.down()
    table = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "pyinfra": pyinfra.__version__ if hasattr(pyinfra, "__version__") else "",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "operations": ops,
        "first run s": round(first, 2),
        "first run changed operations": first_changed,
        "no-op rerun s (median)": round(statistics.median(reruns), 2),
        "no-op rerun s (all)": [round(r, 2) for r in reruns],
        "no-op remote commands": commands,
        "remote commands per operation": round(commands / ops, 2) if ops else None,
        "floor: 1-operation run s (median of 3)": round(statistics.median(floors), 2),
        "no-op rerun / floor": round(statistics.median(reruns) / statistics.median(floors), 1),
        "peak RSS MiB": rss,
    }
    width = max(map(len, table))
    print("\nmailguard benchmark (sandbox: Debian 12 systemd container, SSH over loopback)")
    for key, value in table.items():
        print(f"  {key:<{width}}  {value}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2) + "\n")
    print(f"  written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
