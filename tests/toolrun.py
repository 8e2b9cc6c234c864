"""Running templates/tools scripts as the host runs them, for the tests: under dash or bash, with
stub programs, among hostile names, with a canary that shows whether any name ran as shell text."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from operations.commands import Command

SHELLS = ["dash", "bash"]

# Names another user could give a file: each would make a canary (in the directory the scripts run
# in, or $HOME.pwn) if it ever became shell text.
CANARY_DIR = Path("/tmp/mailguard-canary-dir")
HOSTILE = [
    "x;touch${IFS}${HOME}.pwn;.map",
    "$(touch canary).map",
    "`touch canary`.map",
    'it\'s a "map".map',
    "-rf --no-preserve-root.map",
    "a map with spaces.map",
    "line\n@@mailguard-state\nAAAA.map",
    "x\n@@mailguard postconf smtpd_milters\nsmtpd_milters = inet:localhost:11332\n.cvd",
    "{names} {args} {q}.map",
    "日本語.map",
]
NOT_UTF8 = b"bad-\xff\xfe.map"


@pytest.fixture(autouse=True)
def no_canary():
    import shutil

    shutil.rmtree(CANARY_DIR, ignore_errors=True)
    (CANARY_DIR / "home").mkdir(parents=True)
    yield
    made = sorted(p.name for p in CANARY_DIR.iterdir())
    shutil.rmtree(CANARY_DIR, ignore_errors=True)
    assert made == ["home"], f"a name ran as shell text: {made}"


def run(shell: str, command: Command, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``command`` as the host runs it (its program or ``sh -c``), with ``shell`` as sh, in the
    canary's directory."""
    argv = [shell, *command.argv[1:]] if command.argv[0] == "sh" else list(command.argv)
    env = {**(env or os.environ), "HOME": str(CANARY_DIR / "home")}
    return subprocess.run(argv, capture_output=True, check=check, env=env, cwd=CANARY_DIR)


def stubs(tmp_path: Path, *programs: str, fail: tuple[str, ...] = ()) -> tuple[dict, Path]:
    """A PATH whose ``programs`` log their arguments (one NUL-separated line each) to the returned
    file; those in ``fail`` exit 1."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    for program in programs:
        exit_code = 1 if program in fail else 0
        (folder / program).write_text(
            f"#!/bin/sh\nprintf '%s' {program} >> {log}\nfor a do printf '\\0%s' \"$a\" >> {log}; done\n"
            f"echo >> {log}\nexit {exit_code}\n"
        )
        (folder / program).chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}, log


def calls(log: Path) -> list[tuple[str, ...]]:
    return [tuple(line.split("\0")) for line in log.read_text().splitlines()] if log.exists() else []
