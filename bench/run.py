"""What a rerun costs: `./run bench` (or `python -m bench.run`), against a fresh sandbox.

In one run: the first deploy from a bare host (Debian + Postfix); then, once the host's new
services have settled (this machine's CPUs quiet for a second), interleaved so that the
machine's load falls on each alike, no-op reruns through a one-host inventory and through a
ten-host one (ten names for the same sandbox: the controller's cost per host, without ten
containers) and the floor, a 1-operation pyinfra run against the same host, run right before or
right after the one-host rerun, in turn (medians, and the median of each rerun's ratio to the
floor run beside it, which a drift of the machine's speed moves less); the no-op rerun's remote
commands (counted at --debug); the controller's CPU seconds per run and per
added host; and the peak RSS (VmHWM) of rspamd, clamd and redis after the deploy. Prints one
table and writes it as JSON (--json, default artifacts/bench.json). It is a measurement, not a
test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyinfra

from mailguard.targets import sandbox_ssh
from sandbox import host as sandbox
from sandbox import probes, results

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
SERVICES = {"rspamd": "rspamd", "clamd": "clamd", "redis": "redis-server"}
FLEET = 10


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(env: dict, *args: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, controller CPU seconds, result) of one pyinfra run."""
    started, cpu = time.monotonic(), _children_cpu()
    result = subprocess.run(
        [PYINFRA, "-y", "inventory.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"bench: pyinfra {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed, _children_cpu() - cpu, result


def inventory(path: Path, state: dict, hosts: int) -> Path:
    """An inventory of ``hosts`` names for the one sandbox, with the sandbox's settings."""
    lines = ["[settings]", (ROOT / "sandbox" / "settings.toml").read_text()]
    for number in range(1, hosts + 1):
        lines.append(f'[hosts."bench-{number:02d}"]')
        lines += [f"{key} = {json.dumps(value)}" for key, value in sandbox_ssh(state).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _cpu_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of this machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def wait_until_quiet(limit: float = 90, busy_below: float = 0.10) -> float:
    """Seconds waited until this machine's CPUs were busy less than ``busy_below`` for a whole
    second (the services a first deploy started compile and load for a while: rspamd's
    regular expressions, ClamAV's signatures), at most ``limit``."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        busy, total = _cpu_ticks()
        time.sleep(1)
        busy_after, total_after = _cpu_ticks()
        if busy_after - busy < busy_below * max(total_after - total, 1):
            break
    return time.monotonic() - started


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
    argv = sys.argv[1:] if argv is None else argv
    if "--quality" in argv:  # filtering quality on real mail: bench/quality.py
        from bench import quality

        return quality.main([a for a in argv if a != "--quality"])
    if "--weights" in argv:  # which symbol weights the quality bench's mail shows wrong: bench/weights.py
        from bench import weights

        return weights.main([a for a in argv if a != "--weights"])
    if "--first" in argv:  # the first run against the package floor: bench/first.py
        from bench import first

        return first.main([a for a in argv if a != "--first"])
    if "--mail" in argv:  # the mail itself, through Postfix, rspamd and ClamAV: bench/mail.py
        from bench import mail

        return mail.main([a for a in argv if a != "--mail"])
    parser = argparse.ArgumentParser(prog="./run bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reruns", type=int, default=11, help="no-op reruns to time (median)")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "bench.json"), help="where to write the table")
    parser.add_argument("--label", default="", help="a name for this measurement (e.g. before/after)")
    parser.add_argument("--group", action="store_true", help="a group of three hosts (sandbox.fleet) against one")
    args = parser.parse_args(argv)
    if args.group:
        return group_bench(args)
    reason = sandbox.unsupported_reason()
    if reason:
        print(f"bench: the sandbox cannot run here: {reason}", file=sys.stderr)
        return 1
    sandbox.down()
    state = sandbox.up()
    target = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    scratch = Path(tempfile.mkdtemp(prefix="mailguard-bench-"))
    # As an admin's machine runs it: Python keeps the bytecode of the deploy's own modules.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {**env, **sandbox.secrets_env(), "MAIL_DNS_DIR": str(scratch / "dns-records")}
    one = {**env, "MAIL_INVENTORY": str(inventory(scratch / "one.toml", state, 1))}
    fleet = {**env, "MAIL_INVENTORY": str(inventory(scratch / "fleet.toml", state, FLEET))}
    try:
        first, _cpu, result = timed(env, "deploy.py")
        ops, first_changed = operations_and_changes(result.stdout + result.stderr)
        timed(one, "deploy.py")  # the bytecode written (operations/__init__), the DNS output directory made
        settled = wait_until_quiet()
        runs: dict[str, list[tuple[float, float]]] = {"one": [], "fleet": [], "floor": []}
        pair = [("one", one, ("deploy.py",)), ("floor", one, ("exec", "--", "true"))]
        for round_number in range(args.reruns):
            # the pair side by side, after the 10 hosts (whose sessions the host may still be
            # closing), in turn first and second: neither gains from the order
            for kind, run_env, run_args in [("fleet", fleet, ("deploy.py",)), *pair[:: 1 if round_number % 2 else -1]]:
                elapsed, cpu, result = timed(run_env, *run_args)
                runs[kind].append((elapsed, cpu))
                _ops, changed = operations_and_changes(result.stdout + result.stderr)
                if kind != "floor" and changed:
                    sys.exit(f"bench: the rerun changed {changed} operations: it is not a no-op")
        _t, _cpu, debug = timed(one, "deploy.py", "--debug")
        commands = (debug.stdout + debug.stderr).count("Command exit status:")
        rss = peak_rss_mib(target)
    finally:
        sandbox.down()
    wall = {kind: statistics.median(e for e, _ in values) for kind, values in runs.items()}
    cpu = {kind: statistics.median(c for _, c in values) for kind, values in runs.items()}
    table = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sandbox": f"Debian {sandbox.release()}",
        "pyinfra": getattr(pyinfra, "__version__", ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "operations": ops,
        "first run s": round(first, 2),
        "first run changed operations": first_changed,
        "no-op rerun s (median)": round(wall["one"], 2),
        "no-op rerun s (all)": [round(e, 2) for e, _ in runs["one"]],
        "no-op remote commands": commands,
        "remote commands per operation": round(commands / ops, 2) if ops else None,
        "floor: 1-operation run s (median)": round(wall["floor"], 2),
        "floor s (all)": [round(e, 2) for e, _ in runs["floor"]],
        "no-op rerun / floor": round(wall["one"] / wall["floor"], 2),
        "no-op rerun / floor, median of the side-by-side pairs": round(
            statistics.median(one / floor for (one, _), (floor, _) in zip(runs["one"], runs["floor"], strict=True)), 2
        ),
        "waited for the host to settle after the first run s": round(settled, 1),
        f"no-op rerun of {FLEET} hosts s (median)": round(wall["fleet"], 2),
        f"{FLEET} hosts / 1 host": round(wall["fleet"] / wall["one"], 2),
        "controller CPU s: floor, 1 host, 10 hosts": [round(cpu[k], 2) for k in ("floor", "one", "fleet")],
        "controller CPU s per added host": round((cpu["fleet"] - cpu["one"]) / (FLEET - 1), 3),
        "peak RSS MiB": rss,
    }
    width = max(map(len, table))
    print(f"\nmailguard benchmark (sandbox: Debian {sandbox.release()} systemd container, SSH over loopback)")
    for key, value in table.items():
        print(f"  {key:<{width}}  {value}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2) + "\n")
    print(f"  written: {path}")
    return 0


def group_bench(args) -> int:
    """Three hosts of one group (each its own container and address) against one: the first deploy
    of each from a bare host, then no-op reruns of all three and of one (--limit), interleaved."""
    from sandbox import fleet

    scratch = Path(tempfile.mkdtemp(prefix="mailguard-bench-group-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {**env, **sandbox.secrets_env(), "MAIL_DNS_DIR": str(scratch / "dns-records")}
    env["REDIS_REPLICATION_PASSWORD"] = "bench-" + sandbox.secrets_token().replace("-", "_")
    sandbox.down()
    first: dict[int, float] = {}
    runs: dict[str, list[float]] = {"3 hosts": [], "1 host": []}
    try:
        for count in (1, 3):
            fleet.down()
            data = fleet.up(count)
            (scratch / f"{count}.toml").write_text(fleet.inventory_text(data))
            run_env = {**env, "MAIL_INVENTORY": str(scratch / f"{count}.toml")}
            first[count], _cpu, _result = timed(run_env, "deploy.py")
        for _ in range(args.reruns):
            for kind, extra in (("3 hosts", ()), ("1 host", ("--limit", "mx1"))):
                elapsed, _cpu, result = timed(run_env, "deploy.py", *extra)
                runs[kind].append(elapsed)
                if _group_changed(result.stdout + result.stderr):
                    sys.exit(f"bench: the {kind} rerun changed something: it is not a no-op")
    finally:
        fleet.down()
    wall = {kind: statistics.median(values) for kind, values in runs.items()}
    table = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sandbox": f"3 x Debian {sandbox.release()} systemd containers, each its own address",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "first run s: 1 host, 3 hosts": [round(first[1], 1), round(first[3], 1)],
        "first run: 3 hosts / 1 host": round(first[3] / first[1], 2),
        "no-op rerun s (median): 3 hosts, 1 host of them": [round(wall["3 hosts"], 2), round(wall["1 host"], 2)],
        "no-op rerun s (all): 3 hosts": [round(e, 2) for e in runs["3 hosts"]],
        "no-op rerun s (all): 1 host": [round(e, 2) for e in runs["1 host"]],
        "no-op rerun: 3 hosts / 1 host": round(wall["3 hosts"] / wall["1 host"], 2),
    }
    width = max(map(len, table))
    print("\nmailguard benchmark: a group of three hosts")
    for key, value in table.items():
        print(f"  {key:<{width}}  {value}")
    path = Path(args.json).with_name("bench-group.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2) + "\n")
    print(f"  written: {path}")
    return 0


def _group_changed(output: str) -> bool:
    """Whether pyinfra's Grand total row counts a change or an error on any host."""
    row = next((line for line in output.splitlines() if line.strip().startswith("Grand total")), "")
    return row.split()[3:5] != ["-", "-"]  # pyinfra's results table: its success and error columns


if __name__ == "__main__":
    sys.exit(main())
