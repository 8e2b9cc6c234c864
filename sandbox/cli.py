"""`./run deploy`: the real `pyinfra inventory.py deploy.py`, by default against the sandbox.

Against the sandbox it then sends three real messages and prints a verdict: spam flagged,
virus rejected, mail DKIM-signed (verified with dkimpy against the key on the host).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dkim as dkimpy

from mailguard import dkim
from mailguard import settings as settings_module
from mailguard.layout import dkim_key_path
from mailguard.platforms import DEBIAN_12
from mailguard.targets import read_settings_file

from . import host as sandbox
from . import probes

ROOT = Path(__file__).resolve().parent.parent


def sandbox_target(state: dict) -> probes.Target:
    return probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])


def verdict(target: probes.Target, settings) -> list[tuple[str, bool, str]]:
    results = []
    # +5 through the maps (+20 for the domain, -15 for the address), plus an unknown client's
    # scores and a bare HELO name (probes.BAND_HELO).
    msg, token = probes.message("tagged@mixed.example.net", "bob@example.com", "Scores +5 through the maps.")
    sent = probes.send(target, msg, token, client_ip=probes.EXTERNAL_CLIENT, helo=probes.BAND_HELO)
    got = probes.delivered(target, "bob", token) if sent.accepted else None
    flag = got.get("X-Spam-Flag") if got else None
    results.append(("spam flagged (add_header band)", flag == "YES", f"SMTP {sent.code}, X-Spam-Flag: {flag}"))

    msg, token = probes.message(
        "someone@outside.example.net", "bob@example.com", "See attachment.", attachment=probes.EICAR.encode()
    )
    sent = probes.send(target, msg, token, client_ip=probes.EXTERNAL_CLIENT)
    results.append(("virus rejected", 500 <= sent.code < 600, f"SMTP {sent.code} {sent.reply[:70]}"))

    msg, token = probes.message(f"alice@{settings.primary_domain}", "bob@example.com", "Hello Bob.")
    sent = probes.send(target, msg, token)
    got = probes.delivered(target, "bob", token) if sent.accepted else None
    ok, detail = False, f"SMTP {sent.code}, not delivered"
    if got is not None:
        raw = probes.raw_delivered(target, "bob", token)
        key_path = dkim_key_path(
            DEBIAN_12.rspamd_db_dir, settings.primary_domain, settings.selector_for(settings.primary_domain)
        )
        record = dkim.txt_value(probes.dkim_public_key(target, key_path)).encode()
        ok = dkimpy.verify(raw, dnsfunc=lambda name, timeout=5: record)
        detail = f"DKIM-Signature {'verifies' if ok else 'missing or bad'} against the printed record"
    results.append(("mail signed (DKIM)", bool(ok), detail))
    return results


def deploy(extra: list[str]) -> int:
    command = ["pyinfra", "-y", "inventory.py", "deploy.py", *extra]
    if os.environ.get("MAIL_HOST") or os.environ.get("MAIL_TARGET"):
        return subprocess.run(command, cwd=ROOT, check=False).returncode
    try:
        state = sandbox.up()
    except sandbox.SandboxError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 1
    env = {**sandbox.secrets_env(), **os.environ}
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    if code != 0:
        return code
    settings = settings_module.load(read_settings_file(ROOT / "sandbox" / "settings.toml"), env)
    results = verdict(sandbox_target(state), settings)
    print("\n--> Verdict (real mail through the sandbox):")
    for label, ok, detail in results:
        print(f"    {'PASS' if ok else 'FAIL'}  {label:<32} {detail}")
    print(f"    sandbox stays up: ssh -i {state['ssh_key']} -p {state['ssh_port']} root@127.0.0.1; ./run sandbox down")
    return 0 if all(ok for _, ok, _ in results) else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "deploy":
        print("usage: python -m sandbox.cli deploy [pyinfra options]", file=sys.stderr)
        return 2
    return deploy(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
