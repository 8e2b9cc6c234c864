"""A sandbox of several hosts (issue #19): N booted Debian containers, each in its own network
namespace with its own address on a private test network this machine creates.

The bridge ``mgbr0`` (10.77.0.1/24) is the network; host N is ``mxN`` at 10.77.0.1N, reached on
its own port 22 and 25, and traffic goes only to those addresses. Each host is the single
sandbox's image (Debian + Postfix and the same fixtures), its Postfix listening on its address.

    python -m sandbox.fleet up [N]   # boot N hosts (default 3); writes /run/mailguard-sandbox/fleet.json
    python -m sandbox.fleet down
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox import aptproxy
from sandbox import host as single
from sandbox.chroot import log

BRIDGE = "mgbr0"
NETWORK = "10.77.0"
CONTROLLER_ADDRESS = f"{NETWORK}.1"  # this machine on the test network (the tests' DNS, SMTP client)
STATE = single.RUN / "fleet.json"


def address(number: int) -> str:
    return f"{NETWORK}.{10 + number}"


def _namespace(number: int) -> str:
    return f"mailguard-mx{number}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _network(count: int) -> None:
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{CONTROLLER_ADDRESS}/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for number in range(1, count + 1):
        ns = _namespace(number)
        _ip("netns", "del", ns, check=False)
        _ip("link", "del", f"mgv{number}", check=False)
        _ip("netns", "add", ns)
        _ip("link", "add", f"mgv{number}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", f"mgv{number}", "master", BRIDGE, "up")
        _ip("-n", ns, "addr", "add", f"{address(number)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")


def _prepare(base: Path, root: Path, number: int, public_key: str) -> None:
    """The single sandbox's root, as host mxN on its own address."""
    single.prepare_root(base, root, public_key)
    name, here = f"mx{number}", address(number)
    single._write(root / "etc/hostname", f"{name}\n")
    single._write(root / "etc/hosts", f"127.0.0.1 localhost\n{here} {name}.{single.DOMAIN} {name}\n")
    single._write(
        root / "etc/ssh/sshd_config.d/sandbox.conf",
        f"Port 22\nListenAddress {here}\nPermitRootLogin prohibit-password\n",
    )
    single._write(
        root / "etc/postfix/sandbox-postconf",
        "\n".join(
            [
                f"myhostname = {name}.{single.DOMAIN}",
                f"mydestination = {single.DOMAIN}, {name}.{single.DOMAIN}, localhost",
                "inet_interfaces = all",
                "inet_protocols = ipv4",
                f"smtpd_authorized_xclient_hosts = 127.0.0.0/8, {NETWORK}.0/24",
                f"mynetworks = 127.0.0.0/8, {here}/32",
                "home_mailbox = Maildir/",
                "smtputf8_enable = no",
                "",
            ]
        ),
    )
    # The archive only through the proxy on this machine (sandbox.aptproxy): no other way out.
    proxy = f'Acquire::http::Proxy "http://{CONTROLLER_ADDRESS}:{aptproxy.PORT}";\n'
    single._write(root / "etc/apt/apt.conf.d/99mailguard-proxy", proxy)


def state() -> dict | None:
    try:
        data = json.loads(STATE.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if all(single.alive(h["pid"]) for h in data["hosts"]) else None


def ssh_command(data: dict, number: int, command: str) -> list[str]:
    return [
        "ssh", "-i", data["ssh_key"], "-o", f"UserKnownHostsFile={data['known_hosts']}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=error",
        f"root@{address(number)}", command,
    ]  # fmt: skip


def up(count: int = 3) -> dict:
    current = state()
    if current and len(current["hosts"]) == count:
        return current
    down()
    reason = single.unsupported_reason()
    if reason:
        raise single.SandboxError(reason)
    single.ensure_tools()
    base = single.build_base(single.release())
    key = single.ssh_key()
    _network(count)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "sandbox.aptproxy", CONTROLLER_ADDRESS, str(aptproxy.PORT), str(single.CACHE / "apt")],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    single.nspawn_runtime()
    started = time.monotonic()
    hosts: list[dict] = []
    known = []
    for number in range(1, count + 1):
        root = single.CACHE / f"fleet-mx{number}"
        _prepare(base, root, number, key.with_suffix(".pub").read_text())
        process = _spawn(number, root)
        host_key = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        known.append(f"{address(number)} {host_key[0]} {host_key[1]}")
        hosts.append({"name": f"mx{number}", "address": address(number), "pid": process.pid, "root": str(root)})
    known_hosts = single.RUN / "fleet_known_hosts"
    known_hosts.write_text("\n".join(known) + "\n")
    data = {
        "hosts": hosts,
        "proxy_pid": proxy.pid,
        "ssh_key": str(key),
        "known_hosts": str(known_hosts),
        "release": single.release(),
    }
    STATE.write_text(json.dumps(data))
    for number in range(1, count + 1):
        _wait_booted(data, number, started)
    log(
        f"{count} hosts up in {time.monotonic() - started:.1f} s ({', '.join(address(n) for n in range(1, count + 1))})"
    )
    return data


def _spawn(number: int, root: Path) -> subprocess.Popen:
    console = open(single.RUN / f"fleet-mx{number}.log", "ab")  # noqa: SIM115 (outlives this function)
    return subprocess.Popen(
        [
            "systemd-nspawn",
            "-D",
            str(root),
            "--boot",
            "--register=no",
            "--keep-unit",
            "-M",
            f"mailguard-mx{number}",
            f"--network-namespace-path=/run/netns/{_namespace(number)}",
            # its own firewall (a group's fence), as a VPS has: on its own network namespace only
            "--capability=CAP_NET_ADMIN",
        ],  # fmt: skip
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_booted(data: dict, number: int, started: float) -> None:
    while True:
        if time.monotonic() - started > 120:
            down()
            raise single.SandboxError(f"mx{number} did not finish booting within 120 s")
        if not single.alive(data["hosts"][number - 1]["pid"]):
            down()
            raise single.SandboxError(f"mx{number} exited; see {single.RUN / f'fleet-mx{number}.log'}")
        result = subprocess.run(
            ssh_command(data, number, "systemctl is-system-running --wait"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.5)


def lose(number: int) -> None:
    """Host N lost as a VPS is lost: its link cut (the others get no goodbye from it, not even a
    closed connection), and its container told to power off, which it does on its own time,
    cut off. Its root and network are kept."""
    data = json.loads(STATE.read_text())
    _ip("link", "set", f"mgv{number}", "down")
    with contextlib.suppress(ProcessLookupError):
        os.kill(data["hosts"][number - 1]["pid"], signal.SIGTERM)


def bring_back(number: int) -> dict:
    """Host N booted again from its root and its link up: the same host, as after a repair."""
    data = json.loads(STATE.read_text())
    entry = data["hosts"][number - 1]
    single.down_pid(entry["pid"])  # (the lost host's power-off, finished)
    started = time.monotonic()
    entry["pid"] = _spawn(number, Path(entry["root"])).pid
    STATE.write_text(json.dumps(data))
    _ip("link", "set", f"mgv{number}", "up")
    _wait_booted(data, number, started)
    return data


def down() -> None:
    try:
        data = json.loads(STATE.read_text())
    except (FileNotFoundError, ValueError):
        data = {"hosts": []}
    for entry in data["hosts"]:
        single.down_pid(entry["pid"])
    if data.get("proxy_pid"):
        single.down_pid(data["proxy_pid"], timeout=5)
    for number in range(1, 10):
        _ip("netns", "del", _namespace(number), check=False)
        _ip("link", "del", f"mgv{number}", check=False)
    STATE.unlink(missing_ok=True)


# The sandbox's settings (sandbox/settings.toml) for a group: host 1 is the Redis primary.
_HOST = """
[hosts."mx{n}"]
ssh_hostname = "{address}"
ssh_user = "root"
ssh_key = "{key}"
ssh_known_hosts_file = "{known_hosts}"
ssh_strict_host_key_checking = "yes"
settings = {{ private_address = "{address}", mail_hostname = "mx{n}.example.com" }}
"""


def inventory_text(data: dict, extra_settings: str = "") -> str:
    """A MAIL_INVENTORY for the running hosts (``data``: fleet.json), every host in the group."""
    settings_toml = (Path(__file__).resolve().parent / "settings.toml").read_text()
    settings_toml = settings_toml.replace('mail_hostname = "mail.example.com"\n', "")
    lines = ["[settings]", settings_toml, f'redis_primary = "{address(1)}"', extra_settings]
    for n in range(1, len(data["hosts"]) + 1):
        lines.append(_HOST.format(n=n, address=address(n), key=data["ssh_key"], known_hosts=data["known_hosts"]))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down"):
        print("usage: python -m sandbox.fleet up [N] | down", file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            print(json.dumps(up(int(argv[1]) if len(argv) > 1 else 3)))
        else:
            down()
    except single.SandboxError as error:
        log(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
