"""A real authoritative DNS server (NSD, from Debian's packages) on a loopback address, for tests.

Also two misbehaving peers the tests need: a server that never answers, and one that
answers every query with a fixed error code (REFUSED, SERVFAIL).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ADDRESS = "127.0.53.1"
PORT = 5300


def available() -> str | None:
    """Why NSD cannot run here, or None."""
    for tool in ("nsd", "nsd-checkzone"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (apt-get install nsd)"
    return None


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def soa_header(zone: str, ns: list[str]) -> str:
    lines = [f"$ORIGIN {zone}.", "$TTL 300", f"@ IN SOA {ns[0]}. hostmaster.{zone}. 1 3600 600 86400 300"]
    lines += [f"@ IN NS {name}." for name in ns]
    return "\n".join(lines) + "\n"


def checkzone(zone: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("nsd-checkzone"), zone, str(path)], capture_output=True, text=True, check=False)


class Nsd:
    def __init__(self, workdir: Path, address: str = ADDRESS, port: int = PORT):
        self.dir, self.address, self.port = workdir, address, port
        self.process: subprocess.Popen | None = None

    def start(self, zones: dict[str, str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = [
            "server:",
            f"  ip-address: {self.address}@{self.port}",
            '  username: ""',
            f'  zonesdir: "{self.dir}"',
            '  database: ""',
            f'  zonelistfile: "{self.dir}/zone.list"',
            f'  xfrdfile: "{self.dir}/xfrd.state"',
            f'  xfrdir: "{self.dir}"',
            f'  pidfile: "{self.dir}/nsd.pid"',
            f'  logfile: "{self.dir}/nsd.log"',
            "  server-count: 1",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for zone, text in zones.items():
            (self.dir / f"{zone}.zone").write_text(text)
            problem = checkzone(zone, self.dir / f"{zone}.zone")
            if problem.returncode:
                raise RuntimeError(f"zone {zone} does not load: {problem.stdout}{problem.stderr}")
            config += ["zone:", f"  name: {zone}", f"  zonefile: {zone}.zone"]
        (self.dir / "nsd.conf").write_text("\n".join(config) + "\n")
        self.process = subprocess.Popen(
            [_tool("nsd"), "-d", "-c", str(self.dir / "nsd.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        first = next(iter(zones))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nsd exited: {self.process.stderr.read().decode()}")
            try:
                answer = dns.query.udp(dns.message.make_query(first, "SOA"), self.address, timeout=0.2, port=self.port)
            except dns.exception.Timeout:
                continue
            if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                return
            # Another server holds the address (a leaked NSD): not ours, and ours cannot bind.
            self.stop()
            raise RuntimeError(f"{self.address}:{self.port} answers, but not with {first}'s SOA: another server has it")
        raise RuntimeError("nsd did not answer within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Misbehaving:
    """A UDP 'name server' on ``address``: silent (rcode None) or answering every query with ``rcode``."""

    def __init__(self, address: str, port: int = PORT, rcode: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.rcode, self.queries = rcode, 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            if self.rcode is None:
                continue
            response = dns.message.make_response(dns.message.from_wire(wire))
            response.set_rcode(self.rcode)
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.sock.close()


NOERROR, REFUSED, SERVFAIL = dns.rcode.NOERROR, dns.rcode.REFUSED, dns.rcode.SERVFAIL
