"""The first run against the package floor: `./run bench --first`.

In each round, side by side on the same fresh sandbox image (Debian + Postfix, booted anew each
time): the package floor, the packages the deploy installs for the sandbox's settings installed by
hand in one apt transaction as an admin would (`apt-get update`, then `apt-get install`, the
deploy's options); and the deploy's first run (`pyinfra -y -v inventory.py deploy.py`), with the
time each of its operations took (from its own output, each line stamped as it arrives). Rounds
alternate which goes first, so the machine's drift falls on both alike. Prints one table and
writes it as JSON (--json, default artifacts/first-bench.json). It is a measurement, not a test:
it never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mailguard import settings as settings_module
from mailguard.platforms import PLATFORMS
from mailguard.targets import read_settings_file
from operations import repos
from sandbox import host as sandbox

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")


def floor_packages(settings: settings_module.Settings) -> list[str]:
    """What the deploy installs on the sandbox's Debian for these settings (its platform table)."""
    platform = PLATFORMS[("debian", sandbox.release())]
    return list(dict.fromkeys([*platform.prerequisite_packages, *repos.main_packages(settings, platform)]))


def floor(packages: list[str]) -> float:
    """Seconds to install ``packages`` by hand on a fresh sandbox, in one transaction."""
    state = _fresh()
    install = "env DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends " + " ".join(packages)
    started = time.monotonic()
    subprocess.run(sandbox.ssh_command(state, f"apt-get -q update && {install}"), check=True, capture_output=True)
    return time.monotonic() - started


def first_run(env: dict) -> tuple[float, list[tuple[float, str]]]:
    """Seconds of the deploy's first run on a fresh sandbox, and each operation's seconds."""
    _fresh()
    process = subprocess.Popen(
        [PYINFRA, "-y", "-v", "inventory.py", "deploy.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    stamped = [(time.monotonic() - started, line) for line in process.stdout or []]
    elapsed = time.monotonic() - started
    if process.wait() != 0:
        sys.exit("bench: the first run failed:\n" + "".join(line for _, line in stamped[-40:]))
    return elapsed, operations(stamped, elapsed)


def operations(stamped: list[tuple[float, str]], end: float) -> list[tuple[float, str]]:
    """(seconds, name) of each operation: from its "Starting operation" line to the next one's
    (pyinfra says "Starting serial operation" for one that runs a host at a time: the checked
    restarts and reloads)."""
    starts = [
        (t, match.group(1).strip())
        for t, line in stamped
        if (match := re.search(r"Starting (?:serial )?operation: (.*)", line))
    ]
    ends = [t for t, _ in starts[1:]] + [end]
    return [(round(until - began, 2), name) for (began, name), until in zip(starts, ends, strict=True)]


def _fresh() -> dict:
    sandbox.down()
    return sandbox.up()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench --first", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the floor and the first run, in turn")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "first-bench.json"))
    args = parser.parse_args(argv)
    env = {**os.environ, **sandbox.secrets_env()}
    settings = settings_module.load(read_settings_file(ROOT / "sandbox" / "settings.toml"), env)
    packages = floor_packages(settings)
    floors: list[float] = []
    runs: list[float] = []
    slowest: dict[str, list[float]] = {}
    try:
        for round_number in range(args.rounds):
            for kind in ("floor", "deploy") if round_number % 2 == 0 else ("deploy", "floor"):
                if kind == "floor":
                    floors.append(floor(packages))
                else:
                    elapsed, ops = first_run(env)
                    runs.append(elapsed)
                    for seconds, name in ops:
                        slowest.setdefault(name, []).append(seconds)
                print(
                    f"  round {round_number + 1}: {kind} {(floors if kind == 'floor' else runs)[-1]:.1f} s", flush=True
                )
    finally:
        sandbox.down()
    ops_median = sorted(((statistics.median(v), k) for k, v in slowest.items()), reverse=True)
    table = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sandbox": f"Debian {sandbox.release()} systemd container, fresh for each run",
        "machine": f"{os.cpu_count()} cores",
        "packages": packages,
        "package floor s": [round(f, 1) for f in floors],
        "first run s": [round(r, 1) for r in runs],
        "first run / floor (medians)": round(statistics.median(runs) / statistics.median(floors), 2),
        "operations": len(ops_median),
        "operations' seconds, summed (median run)": round(sum(s for s, _ in ops_median), 1),
        "slowest operations s": {name: round(s, 2) for s, name in ops_median[:10]},
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    print(f"\nfirst run against the package floor (Debian {sandbox.release()}, {args.rounds} rounds):")
    print(f"  package floor:  {table['package floor s']} s  ({len(packages)} packages, one apt transaction)")
    print(f"  first run:      {table['first run s']} s")
    print(f"  first run / floor (medians): {table['first run / floor (medians)']}")
    print("  slowest operations (median s):")
    for name, seconds in table["slowest operations s"].items():
        print(f"    {seconds:6.2f}  {name}")
    print(f"  written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
