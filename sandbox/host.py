"""The local sandbox: a booted Debian systemd container with Postfix, reached over SSH.

``MAILGUARD_SANDBOX_RELEASE`` picks the Debian release it boots: ``13`` (trixie, the default:
Debian's stable release, rspamd 3.12), ``12`` (bookworm, rspamd 3.4) or ``unstable`` (sid,
rspamd 4.1). Each release's base image is built once and cached.

It stands for the admin's VPS (Postfix already delivering mail) and carries the test fixtures
the product must not install itself: an offline ClamAV signature that detects EICAR, drop-ins
that let the ClamAV units start without the official database, XCLIENT for loopback, and the
DNS its unbound answers without the internet (``OFFLINE_DNS``).

    python -m sandbox.host up     # build (cached) and boot; writes /run/mailguard-sandbox/state.json
    python -m sandbox.host down   # SIGTERM to the container's own nspawn process, wait for it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets as _secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import ols
from sandbox.chroot import log, mounted, run_in
from sandbox.probes import EXTERNAL_CLIENT

CACHE = Path(os.environ.get("MAILGUARD_SANDBOX_CACHE", "/var/cache/mailguard-sandbox"))
RUN = Path(os.environ.get("MAILGUARD_SANDBOX_RUN", "/run/mailguard-sandbox"))
MACHINE = "mailguard-sandbox"
SSH_PORT = int(os.environ.get("MAILGUARD_SANDBOX_SSH_PORT", "2222"))
MIRROR = os.environ.get("MAILGUARD_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_VERSION = "4"  # bump when the base image recipe changes
OLS_IMAGE_VERSION = "3"  # bump when sandbox.ols.install changes


@dataclass(frozen=True)
class Release:
    suite: str  # debootstrap's name for it
    title: str
    stale_release_file: bool = False  # the archive snapshot here has an expired Release file
    needs_cgroup2: bool = False  # its systemd refuses cgroup v1, which is all this machine has
    openlitespeed: bool = False  # the image also has OpenLiteSpeed serving an admin's site (sandbox.ols)


# MAILGUARD_SANDBOX_RELEASE -> the Debian release it boots
RELEASES = {
    "12": Release("bookworm", "Debian 12"),
    "13": Release("trixie", "Debian 13", openlitespeed=True),
    "unstable": Release("sid", "Debian unstable", stale_release_file=True, needs_cgroup2=True, openlitespeed=True),
}
DEFAULT_RELEASE = "13"

# The DNS the host's unbound (the deploy's resolver for rspamd) answers, in one drop-in that the
# tests' DNS world (tests/e2e/dnsworld.py) replaces with stubs to a real NSD. Without the
# internet unbound would spend seconds on each name, and rspamd's scan would run out of time
# before its antivirus and map checks end: every name is refused at once, but the SPF record that
# lets the verdict's whitelisted sender (sandbox/settings.toml) pass the composite.
DNS_WORLD_CONF = "/etc/unbound/unbound.conf.d/sandbox-dns.conf"
OFFLINE_DNS = f"""server:
    local-zone: "." refuse
    local-data: 'mixed.example.net. TXT "v=spf1 ip4:{EXTERNAL_CLIENT} -all"'
"""


def release() -> str:
    chosen = os.environ.get("MAILGUARD_SANDBOX_RELEASE") or DEFAULT_RELEASE
    if chosen not in RELEASES:
        raise SandboxError(f"MAILGUARD_SANDBOX_RELEASE: must be one of {', '.join(RELEASES)}, got {chosen!r}")
    return chosen


DOMAIN = "example.com"
EICAR_MD5_SIGNATURE = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"


class SandboxError(Exception):
    pass


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kwargs)


def unsupported_reason() -> str | None:
    """Why the sandbox cannot run here, or None."""
    if sys.platform != "linux":
        return "the sandbox needs Linux"
    if os.geteuid() != 0:
        return "the sandbox needs root (systemd-nspawn, debootstrap)"
    return None


def ensure_tools() -> None:
    missing = [tool for tool in ("debootstrap", "systemd-nspawn") if not shutil.which(tool)]
    if missing:
        log(f"installing {', '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "debootstrap", "systemd-container", env=env, stdout=subprocess.DEVNULL)


def build_base(chosen: str) -> Path:
    """debootstrap once, then install Postfix (the admin's existing mail server): cached."""
    release_ = RELEASES[chosen]
    suite, title = release_.suite, release_.title
    base = CACHE / f"base-{chosen}-v{BASE_VERSION}"
    if (base / ".complete").exists():
        return base
    ensure_tools()
    shutil.rmtree(base, ignore_errors=True)
    base.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the {title} base image in {base} (once; about 2 minutes)")
    started = time.monotonic()
    run(
        "debootstrap",
        "--variant=minbase",
        "--include=systemd,systemd-sysv,dbus,openssh-server,python3,ca-certificates",
        suite,
        str(base),
        MIRROR,
        stdout=subprocess.DEVNULL,
    )
    if release_.stale_release_file:
        _write(base / "etc/apt/apt.conf.d/99mailguard-snapshot", 'Acquire::Check-Valid-Until "false";\n')
    with mounted(base):
        run_in(
            base,
            f"""
        echo "postfix postfix/main_mailer_type select Internet Site" | debconf-set-selections
        echo "postfix postfix/mailname string mail.{DOMAIN}" | debconf-set-selections
        apt-get install -y -qq --no-install-recommends postfix >/dev/null
        apt-get clean
        for user in alice bob; do useradd -m "$user"; done
    """,
        )
    (base / ".complete").write_text(time.strftime("%F %T\n"))
    log(f"base image built in {time.monotonic() - started:.0f} s")
    return base


def build_ols_image(chosen: str, base: Path) -> Path:
    """The base image plus OpenLiteSpeed and the admin's site on it (sandbox.ols): cached."""
    image = CACHE / f"{base.name}-ols-{ols.VERSION}-v{OLS_IMAGE_VERSION}"
    if (image / ".complete").exists():
        return image
    prefix = ols.build(base, CACHE, chosen)
    shutil.rmtree(image, ignore_errors=True)
    run("cp", "-a", "--reflink=auto", str(base), str(image))
    (image / ".complete").unlink()  # the base's marker: this image is complete only once OLS is in
    ols.install(image, prefix)
    (image / ".complete").write_text(time.strftime("%F %T\n"))
    return image


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def prepare_root(base: Path, root: Path, public_key: str) -> None:
    """A fresh copy of the base with sshd, the mail fixtures and our key."""
    if root.exists():
        shutil.rmtree(root)  # loudly: a root still in use (another sandbox) must not be copied into
    run("cp", "-a", "--reflink=auto", str(base), str(root))
    _write(root / "etc/hostname", "mail\n")
    # rspamd 3.x resolves its fuzzy servers while it loads its configuration, with the system's
    # resolver: without the internet that is a line of configtest's. Here they resolve to a loopback
    # address where nothing listens (a fuzzy query fails at once, as an unreachable server's would;
    # not 127.0.0.1, where the host's own fuzzy storage, local_fuzzy, listens on the same port).
    hosts = f"127.0.0.1 localhost\n127.0.1.1 mail.{DOMAIN} mail\n127.0.0.9 fuzzy1.rspamd.com fuzzy2.rspamd.com\n"
    _write(root / "etc/hosts", hosts)
    _write(root / "root/.ssh/authorized_keys", public_key, 0o600)
    (root / "root/.ssh").chmod(0o700)
    _write(
        root / "etc/ssh/sshd_config.d/sandbox.conf",
        f"Port {SSH_PORT}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n",
    )
    # Postfix as on the admin's server: delivers mail for the domain to local mailboxes;
    # XCLIENT from loopback lets the tests speak as any client address.
    _write(
        root / "etc/postfix/sandbox-postconf",
        "\n".join(
            [
                f"myhostname = mail.{DOMAIN}",
                f"mydestination = {DOMAIN}, mail.{DOMAIN}, localhost",
                "inet_interfaces = loopback-only",
                "inet_protocols = ipv4",
                "smtpd_authorized_xclient_hosts = 127.0.0.0/8",
                "home_mailbox = Maildir/",
                "smtputf8_enable = no",
                "",
            ]
        ),
    )
    _write(
        root / "etc/systemd/system/sandbox-postconf.service",
        """[Unit]
Description=Sandbox fixture: Postfix settings of the admin's server
Before=postfix.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'xargs -d "\\n" -a /etc/postfix/sandbox-postconf postconf -e && newaliases'
[Install]
WantedBy=multi-user.target
""",
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "sandbox-postconf.service"
    if not link.exists():
        link.symlink_to("/etc/systemd/system/sandbox-postconf.service")
    _write(root / DNS_WORLD_CONF.lstrip("/"), OFFLINE_DNS)
    # ClamAV fixtures: an offline EICAR signature, and units that start without the official DB.
    _write(root / "var/lib/clamav/sandbox-eicar.hdb", EICAR_MD5_SIGNATURE)
    for unit in ("clamav-daemon.service", "clamav-freshclam.service"):
        _write(root / f"etc/systemd/system/{unit}.d/sandbox.conf", "[Unit]\nConditionPathExistsGlob=\n")
    # freshclam cannot reach the internet here: keep its daemon from failing in a loop.
    _write(
        root / "etc/systemd/system/clamav-freshclam.service.d/sandbox-offline.conf",
        "[Service]\nExecStart=\nExecStart=/bin/sleep infinity\n",
    )


def secrets_token() -> str:
    return _secrets.token_urlsafe(18)


def secrets_env() -> dict[str, str]:
    """The sandbox's web UI passwords (made once), used where the environment sets none."""
    path = RUN / "secrets.env"
    if not path.exists():
        RUN.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"RSPAMD_CONTROLLER_PASSWORD={secrets_token()}\nRSPAMD_ENABLE_PASSWORD={secrets_token()}\n")
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def state() -> dict | None:
    try:
        data = json.loads((RUN / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if alive(data["pid"]) else None


def ssh_key() -> Path:
    """The sandboxes' SSH key (made once)."""
    RUN.mkdir(parents=True, exist_ok=True)
    key = RUN / "id_ed25519"
    if not key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailguard-sandbox", "-f", str(key))
    return key


def nspawn_runtime() -> None:
    """systemd-nspawn's runtime directory, on a tmpfs (this machine runs no systemd of its own)."""
    nspawn_dir = Path("/run/systemd/nspawn")
    nspawn_dir.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(nspawn_dir)], check=False).returncode != 0:
        run("mount", "-t", "tmpfs", "tmpfs", str(nspawn_dir))


def up() -> dict:
    chosen = release()
    current = state()
    if current and current.get("release") == chosen:
        return current
    if current:
        down()  # another release is running: one sandbox at a time (it shares this machine's ports)
    reason = unsupported_reason()
    if reason:
        raise SandboxError(reason)
    ensure_tools()
    if _port_open(SSH_PORT) or _port_open(25):
        raise SandboxError(f"port {SSH_PORT} or 25 is taken on 127.0.0.1: the sandbox shares this machine's network")
    base = build_base(chosen)
    if RELEASES[chosen].openlitespeed:
        base = build_ols_image(chosen, base)
    key = ssh_key()
    root = CACHE / "root"
    prepare_root(base, root, key.with_suffix(".pub").read_text())
    nspawn_runtime()
    env = dict(os.environ)
    if RELEASES[chosen].needs_cgroup2:  # an empty v2 tree for it
        unified = Path("/sys/fs/cgroup/unified")
        unified.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["mountpoint", "-q", str(unified)], check=False).returncode != 0:
            run("mount", "-t", "cgroup2", "none", str(unified))
        env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
    console = open(RUN / "console.log", "wb")  # noqa: SIM115 (the container outlives this function)
    process = subprocess.Popen(
        ["systemd-nspawn", "-D", str(root), "--boot", "--register=no", "--keep-unit", "-M", MACHINE],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    known_hosts = RUN / "known_hosts"
    host_key = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    known_hosts.write_text(f"[127.0.0.1]:{SSH_PORT} {host_key[0]} {host_key[1]}\n")
    data = {
        "pid": process.pid,
        "ssh_port": SSH_PORT,
        "ssh_key": str(key),
        "known_hosts": str(known_hosts),
        "root": str(root),
        "release": chosen,
    }
    while time.monotonic() - started < 90:
        if process.poll() is not None:
            raise SandboxError(f"the container exited ({process.returncode}); see {RUN / 'console.log'}")
        result = (
            subprocess.run(
                ssh_command(data, "systemctl is-system-running --wait"),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if _port_open(SSH_PORT)
            else None
        )
        if result and result.stdout.strip() in ("running", "degraded"):
            (RUN / "state.json").write_text(json.dumps(data))
            title = RELEASES[chosen].title
            log(f"{title} sandbox up in {time.monotonic() - started:.1f} s (ssh root@127.0.0.1 -p {SSH_PORT})")
            return data
        time.sleep(0.5)
    down_pid(process.pid)
    raise SandboxError("the container did not finish booting within 90 s")


def ssh_command(data: dict, command: str) -> list[str]:
    return [
        "ssh",
        "-i",
        data["ssh_key"],
        "-p",
        str(data["ssh_port"]),
        "-o",
        f"UserKnownHostsFile={data['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=error",
        "root@127.0.0.1",
        command,
    ]


def down_pid(pid: int, timeout: float = 60) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def down() -> None:
    data = state()
    if data:
        down_pid(data["pid"])
        log("sandbox stopped")
    (RUN / "state.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.host")
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            up()
        elif args.action == "down":
            down()
        else:
            print(json.dumps(state()))
    except SandboxError as error:
        log(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
