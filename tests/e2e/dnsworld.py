"""The DNS the booted host sees, without the internet: a real NSD on this machine serving the
zones the tests need, reached through the host's own unbound (the deploy's resolver for rspamd)
by stub zones, as an admin would add them.

- example.net: SPF for the test senders' domains;
- the blocklists rspamd asks, each with its documented test point listed, and one test client.
"""

from __future__ import annotations

from pathlib import Path

import nsd

from sandbox import host as sandbox
from sandbox import probes

ADDRESS = "127.0.53.9"  # not nsd.ADDRESS: the DNS tests' own NSD may run beside it
SENDING_CLIENT = "203.0.113.5"  # probes.EXTERNAL_CLIENT: SPF permits it for mixed.example.net
LISTED_CLIENT = "203.0.113.77"  # on zen.spamhaus.org
REFUSED_CLIENT = "203.0.113.99"  # zen.spamhaus.org answers it as it answers a refused resolver
STUB_CONF = sandbox.DNS_WORLD_CONF  # replaces the sandbox's offline answers


def zones(address: str = ADDRESS) -> dict[str, str]:
    """Each zone's file, its name server at ``address``."""

    def zone(name: str, records: list[str]) -> str:
        return nsd.soa_header(name, [f"ns1.{name}"]) + "\n".join([f"ns1 IN A {address}", *records]) + "\n"

    return {
        "example.net": zone("example.net", [f'mixed IN TXT "v=spf1 ip4:{SENDING_CLIENT} -all"']),
        "zen.spamhaus.org": zone(
            "zen.spamhaus.org",
            [
                "2.0.0.127 IN A 127.0.0.2",
                "2.0.0.127 IN A 127.0.0.10",
                "77.113.0.203 IN A 127.0.0.2",
                "99.113.0.203 IN A 127.255.255.254",
            ],
        ),
        "dbl.spamhaus.org": zone("dbl.spamhaus.org", ["dbltest.com IN A 127.0.1.2"]),
        "multi.uribl.com": zone("multi.uribl.com", ["test.uribl.com IN A 127.0.0.14"]),
        "multi.surbl.org": zone("multi.surbl.org", ["test.surbl.org IN A 127.0.0.8"]),
        "bl.spameatingmonkey.net": zone("bl.spameatingmonkey.net", ["2.0.0.127 IN A 127.0.0.2"]),
        "list.dnswl.org": zone("list.dnswl.org", ["2.0.0.127 IN A 127.0.10.0"]),
    }


ZONES = zones()


def unbound_stubs(address: str = ADDRESS) -> str:
    """The drop-in that sends the host's unbound to this NSD for these zones (unsigned, so insecure).

    Every other name is refused at once: without the internet, unbound would spend seconds on
    each, and rspamd's scan would run out of time before its antivirus and map checks end.
    """
    lines = ["server:", "    do-not-query-localhost: no", '    local-zone: "." refuse']
    lines += [f'    local-zone: "{zone}." transparent' for zone in ZONES]
    lines += [f'    domain-insecure: "{zone}"' for zone in ZONES]
    for zone in ZONES:
        lines += ["stub-zone:", f'    name: "{zone}"', f"    stub-addr: {address}@{nsd.PORT}"]
    return "\n".join(lines) + "\n"


def start(workdir: Path, address: str = ADDRESS) -> nsd.Nsd:
    server = nsd.Nsd(workdir, address=address)
    server.start(zones(address))
    return server


def point_host_at_it(target, address: str = ADDRESS) -> None:
    """Write the stub zones into a freshly booted sandbox, before the deploy installs unbound
    (a host's own unbound without them would recurse to an internet it cannot reach)."""
    target.sh(f"mkdir -p {STUB_CONF.rsplit('/', 1)[0]} && cat > {STUB_CONF} <<'EOF'\n{unbound_stubs(address)}EOF")


def fresh_host() -> probes.Target:
    """A freshly booted sandbox in place of the session's (which is stopped), reaching the
    session's DNS world, which is still up: for a module that starts from Debian and Postfix."""
    sandbox.down()
    state = sandbox.up()
    target = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    point_host_at_it(target)
    return target
