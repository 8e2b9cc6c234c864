"""Running scripts inside an image root while it is built: shared by the base image (host.py)
and the OpenLiteSpeed layer (ols.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def log(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev bound into ``root`` for the duration (package scripts need them)."""
    for mount in ("proc", "sys", "dev"):
        subprocess.run(["mount", "--bind", f"/{mount}", str(root / mount)], check=True)
    try:
        yield
    finally:
        for mount in ("dev", "sys", "proc"):
            subprocess.run(["umount", "-l", str(root / mount)], check=False)


def run_in(root: Path, script: str) -> None:
    """``script`` by /bin/sh -e inside ``root``, quietly; on failure, the end of what it said."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    result = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-ec", script], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        said = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise RuntimeError(f"in {root}: exit {result.returncode}:\n" + "\n".join(said))
