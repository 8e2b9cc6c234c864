"""A group's Redis traffic between hosts, in TLS (issue #37): stunnel, run by a unit of the
deploy's own, with the group's key and certificate (mailguard/group_tls.py).

rspamd's Redis client speaks TLS only from 3.13.1 on, and Debian's own packages are 3.4 and 3.12;
a tunnel serves every rspamd the deploy installs, and Redis's replication with it. On the primary
it takes the group's port on its private_address and hands each connection to Redis's unix socket
(Redis itself listens on no TCP port); on every other host it takes 127.0.0.1:TUNNEL_PORT, where
that host's Redis replicates from and its rspamd writes to, and connects to the primary.

Where the group's sentinels choose the primary (mailguard/sentinel.py), every host's tunnel takes
the group's port and the sentinels' on its private_address (to its Redis's socket and its
sentinel), and every other host's group loopback addresses, each to that host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailguard import group_tls, layout, sentinel
from mailguard.settings import REDIS_PORT

from . import files, system
from .context import HostContext
from .templating import render


@dataclass(frozen=True)
class Section:
    name: str
    client: bool
    accept: str
    connect: str


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sections(ctx: HostContext) -> list[Section]:
    """The primary's end (the group's port, to Redis's socket), or a replica's (to the primary);
    where sentinels choose the primary, every host's own end and one to each other host."""
    settings = ctx.settings
    if settings.redis_failover:
        return _mesh(ctx)
    if settings.redis_role == "primary":
        assert settings.private_address is not None  # the settings refuse a group host without it
        return [
            Section("group-redis", False, _address(settings.private_address, REDIS_PORT), ctx.platform.redis_socket)
        ]
    assert settings.redis_primary is not None
    return [
        Section(
            "group-redis-primary",
            True,
            _address(layout.TUNNEL_HOST, layout.TUNNEL_PORT),
            _address(settings.redis_primary, REDIS_PORT),
        )
    ]


def _mesh(ctx: HostContext) -> list[Section]:
    settings = ctx.settings
    own = settings.private_address
    assert own is not None
    here = sentinel.loopback(own)
    ends = [
        Section("group-redis", False, _address(own, REDIS_PORT), ctx.platform.redis_socket),
        Section("group-sentinel", False, _address(own, sentinel.PORT), _address(here, sentinel.PORT)),
    ]
    for peer in sorted(a for a in settings.group_addresses if a != own):
        there = sentinel.loopback(peer)
        ends += [
            Section(f"redis-of-{peer}", True, _address(there, REDIS_PORT), _address(peer, REDIS_PORT)),
            Section(f"sentinel-of-{peer}", True, _address(there, sentinel.PORT), _address(peer, sentinel.PORT)),
        ]
    return ends


def configure(ctx: HostContext) -> list[Any]:
    """The tunnel's files on a host of a group; the operations whose change asks for its restart."""
    settings, platform = ctx.settings, ctx.platform
    secret = settings.redis_password
    files.directory(name=f"Tunnel: {layout.TUNNEL_DIR}", path=layout.TUNNEL_DIR, user="root", group="root", mode=755,
                    reads=ctx.reads)  # fmt: skip
    certificate = files.text_file(
        name="Tunnel: the group's certificate",
        path=layout.TUNNEL_CERT,
        content=group_tls.certificate_pem(secret).decode(),
        reads=ctx.reads,
    )
    key = files.text_file(
        name="Tunnel: the group's key",
        path=layout.TUNNEL_KEY,
        content=group_tls.key_pem(secret).decode(),
        secret=True,
        mode=600,
        reads=ctx.reads,
    )
    conf = files.text_file(
        name="Tunnel: every host's ends" if settings.redis_failover else f"Tunnel: {settings.redis_role}'s end",
        path=layout.TUNNEL_CONF,
        content=render("stunnel/mailguard-tunnel.conf.j2", sections=sections(ctx), layout=layout),
        reads=ctx.reads,
    )
    units = system.unit_files("Tunnel", [layout.TUNNEL_UNIT], ctx.reads, platform=platform, layout=layout)
    return [certificate, key, conf, *units]
