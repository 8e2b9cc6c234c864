"""The web UI's reverse proxy: what OpenLiteSpeed's rewrite rules need that nginx has built in."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable


def _ipv4_patterns(network: ipaddress.IPv4Network) -> list[str]:
    """Regex alternatives matching exactly the addresses of ``network`` (octet boundaries)."""
    boundary = math.ceil(network.prefixlen / 8) * 8
    patterns = []
    for subnet in network.subnets(new_prefix=boundary):
        octets = str(subnet.network_address).split(".")[: boundary // 8]
        rest = 4 - len(octets)
        patterns.append(r"\.".join(octets + [r"\d+"] * rest))
    return patterns


def allow_regex(networks: Iterable[str]) -> str:
    """An anchored regex for REMOTE_ADDR that matches the allow-list (IPv4 networks, single IPv6 addresses)."""
    patterns = []
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if network.version == 4:
            patterns += _ipv4_patterns(network)
        elif network.prefixlen == 128:
            patterns.append(re.escape(str(network.network_address)))
        else:
            raise ValueError(f"{text}: an IPv6 network cannot be written as an OpenLiteSpeed rewrite condition")
    return "^(" + "|".join(dict.fromkeys(patterns)) + ")$"
