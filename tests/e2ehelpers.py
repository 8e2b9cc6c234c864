"""Helpers shared by the end-to-end modules (their fixtures are in tests/e2e/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mailguard import platforms
from sandbox import probes

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = "203.0.113.5"
TIMINGS: dict[str, float] = {}


def settings_file() -> Path:
    return Path(os.environ.get("MAIL_SETTINGS") or ROOT / "sandbox" / "settings.toml")


def pyinfra(env: dict, *args: str, deploy: str = "deploy.py") -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "pyinfra"), "-y", "inventory.py", deploy, *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def send(target, mail_from, rcpt="bob@example.com", client_ip=EXTERNAL, **kwargs):
    msg, token = probes.message(mail_from, rcpt, **kwargs)
    return probes.send(target, msg, token, client_ip=client_ip)


def host_platform(target) -> platforms.Platform:
    release = dict(line.split("=", 1) for line in target.sh("cat /etc/os-release").splitlines() if "=" in line)
    return platforms.for_os_release(release["ID"].strip('"'), release["VERSION_ID"].strip('"'))
