"""Every difference between the supported systems, as one table entry per family.

Operations read fields of a ``Platform``; none of them asks which system it runs on. A host is
matched by os-release: its ``ID``, then each ``ID_LIKE``, with the major ``VERSION_ID`` (Debian
testing and unstable have none: they are "unstable"). Where distributions of one family really
differ (RHEL's CRB repository and EPEL source, Oracle Linux's), the entry's ``variants`` hold
the fields that change, by ``ID``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .layout import RSPAMD_CONF_DIR


@dataclass(frozen=True)
class Platform:
    key: str
    title: str
    package_manager: str  # "dnf" or "apt": picks the package installer
    prerequisite_packages: tuple[str, ...]  # installed before any repository is added
    # rspamd's own repository: (file on the host, template under templates/repos/)
    rspamd_repo_file: str
    rspamd_repo_template: str
    rspamd_key_url: str
    rspamd_key_file: str
    rspamd_distro_package_ok: bool  # can rspamd come from the distribution instead?
    packages: tuple[str, ...]  # rspamd, redis and helpers
    antivirus_packages: tuple[str, ...]
    # ClamAV
    clamd_conf: str
    clamd_unit: str
    freshclam_unit: str
    clamd_socket: str
    clamd_socket_group: str
    clamd_settings: tuple[tuple[str, tuple[str, ...]], ...]  # directive -> values, ensured active
    clamd_disabled: tuple[str, ...]  # directives commented out
    clamav_db_dir: str
    # Redis
    redis_conf_candidates: tuple[str, ...]  # first one that exists is used
    redis_unit: str
    redis_group: str
    rspamd_upstream_ok: bool = True  # does rspamd's own repository serve this release?
    # The distribution's release name, where its repositories use one (rspamd's apt repository).
    codename: str = ""
    # A file clamd's own user must be able to write (clamd does not run as root): (path, user, group).
    clamd_log_file: tuple[str, str, str] | None = None
    # An extra repository the others need (EL: CodeReady Builder, before EPEL): its id, and the
    # command that enables it (program and arguments). "{arch}" is the host's machine name.
    extra_repo: str | None = None
    extra_repo_enable: tuple[str, ...] | None = None
    # Where a prerequisite package comes from when it is not in an enabled repository: name -> URL
    package_sources: Mapping[str, str] = field(default_factory=dict)
    # Postfix and rspamd
    postfix_unit: str = "postfix"
    rspamd_unit: str = "rspamd"
    rspamd_user: str = "_rspamd"
    rspamd_group: str = "_rspamd"
    rspamd_conf_dir: str = RSPAMD_CONF_DIR
    rspamd_db_dir: str = "/var/lib/rspamd"
    redis_socket: str = "/run/redis/redis.sock"
    redis_user: str = "redis"
    # A group's sentinels run it with --sentinel (Debian's redis-sentinel package is not needed:
    # redis-server is the same program). EL9's path from its redis package: not verified.
    redis_server_binary: str = "/usr/bin/redis-server"
    redis_dump: str = "/var/lib/redis/dump.rdb"  # the packages' dir and dbfilename (restore.py puts a dump there)
    postfix_main_cf: str = "/etc/postfix/main.cf"
    postfix_master_cf: str = "/etc/postfix/master.cf"
    # rspamd's own recursive resolver (resolver = "local")
    unbound_unit: str = "unbound"
    unbound_conf_dir: str = "/etc/unbound/conf.d"  # included by the package's unbound.conf
    unbound_packages: tuple[str, ...] = ("unbound",)
    # Units of the unbound package that would make it the system's resolver: masked, never run.
    unbound_system_hooks: tuple[str, ...] = ()
    # SELinux booleans set on (persistently) when a reverse proxy publishes the web UI
    selinux_proxy_booleans: tuple[str, ...] = ()
    # The host firewall that may be running, and whose http/https the web UI's proxy needs.
    firewall_unit: str | None = None
    # Whether the distribution's own rspamd package (rspamd_source = "distro") is 3.12 or later, as
    # rspamd.com's packages all are: it logs in to Redis with a user name (lua_redis's username) and
    # reads lua.local.d (3.11 and later).
    distro_rspamd_3_12: bool = True
    # A group's fence (layout.FENCE_RULES): nftables, which firewalld also runs on
    fence_packages: tuple[str, ...] = ("nftables",)
    nft_binary: str = "/usr/sbin/nft"
    # A group's TLS tunnel (layout.TUNNEL_CONF)
    tunnel_packages: tuple[str, ...] = ("stunnel",)
    stunnel_binary: str = "/usr/bin/stunnel"
    # The web UI's reverse proxies
    nginx_package: str = "nginx"
    nginx_unit: str = "nginx"
    nginx_conf_file: str = "/etc/nginx/conf.d/mailguard-rspamd.conf"  # our server block
    nginx_locations_file: str = "/etc/nginx/mailguard-rspamd.locations"  # included by it, or by the admin's server
    dovecot_unit: str = "dovecot"
    dovecot_conf: str = "/etc/dovecot/dovecot.conf"
    dovecot_conf_dir: str = "/etc/dovecot/conf.d"  # included by the package's dovecot.conf
    dovecot_sieve_packages: tuple[str, ...] = ("dovecot-sieve",)  # Pigeonhole: Sieve, IMAPSieve, extprograms
    ols_unit: str = "lsws"
    ols_binary: str = "/usr/local/lsws/bin/openlitespeed"
    ols_server_conf: str = "/usr/local/lsws/conf/httpd_config.conf"
    # os-release ID -> fields that differ for that distribution of the family
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The distributions this entry is proven on, end to end or by offline plans (the README's list).
    distributions: tuple[str, ...] = ()

    def installs_rspamd_3_12(self, rspamd_source: str) -> bool:
        """Whether the rspamd the deploy installs is 3.12 or later: it logs in to Redis with a user
        name, and reads /etc/rspamd/lua.local.d, which its package makes."""
        return rspamd_source == "upstream" or self.distro_rspamd_3_12


EL_9 = Platform(
    key="el9",
    title="Enterprise Linux 9",
    distributions=("AlmaLinux 9", "Rocky Linux 9", "RHEL 9", "CentOS Stream 9", "Oracle Linux 9"),
    package_manager="dnf",
    prerequisite_packages=("epel-release",),
    # EPEL's packages (ClamAV; rspamd's own EL9 builds too) need CodeReady Builder.
    extra_repo="crb",
    dovecot_sieve_packages=("dovecot-pigeonhole",),
    extra_repo_enable=("dnf", "config-manager", "--set-enabled", "crb"),
    rspamd_repo_file="/etc/yum.repos.d/rspamd.repo",
    rspamd_repo_template="repos/rspamd.repo.j2",
    rspamd_key_url="https://rspamd.com/rpm/rspamd.asc",
    rspamd_key_file="/etc/pki/rpm-gpg/RPM-GPG-KEY-rspamd",
    rspamd_distro_package_ok=False,
    packages=("rspamd", "redis", "openssl"),
    antivirus_packages=("clamav", "clamd", "clamav-freshclam"),
    clamd_conf="/etc/clamd.d/scan.conf",
    clamd_unit="clamd@scan",
    freshclam_unit="clamav-freshclam",
    clamd_socket="/run/clamd.scan/clamd.sock",
    clamd_socket_group="virusgroup",
    clamd_settings=(
        ("LogFile", ("/var/log/clamd.scan",)),
        ("LogTime", ("yes",)),
        ("LocalSocket", ("/run/clamd.scan/clamd.sock",)),
        ("LocalSocketGroup", ("virusgroup",)),
        ("LocalSocketMode", ("660",)),
        ("ExcludePath", ("^/proc/", "^/sys/")),
    ),
    # clamd keeps running as clamscan (the seed comments User out, running it as root): rspamd
    # streams each message (INSTREAM), so clamd opens no files and needs no privilege.
    clamd_disabled=("Example",),
    clamd_log_file=("/var/log/clamd.scan", "clamscan", "clamscan"),
    clamav_db_dir="/var/lib/clamav",
    redis_conf_candidates=("/etc/redis/redis.conf", "/etc/redis.conf"),
    redis_unit="redis",
    redis_group="redis",
    # httpd_t (nginx) may not connect to 11334 otherwise; OpenLiteSpeed runs as bin_t, unconfined.
    selinux_proxy_booleans=("httpd_can_network_connect",),
    firewall_unit="firewalld",
    variants={
        # RHEL: CRB comes through subscription-manager; EPEL is not in any RHEL repository.
        "rhel": {
            "extra_repo": "codeready-builder-for-rhel-9-{arch}-rpms",
            "extra_repo_enable": (
                "subscription-manager",
                "repos",
                "--enable",
                "codeready-builder-for-rhel-9-{arch}-rpms",
            ),
            "package_sources": {
                "epel-release": "https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm"
            },
        },
        # Oracle Linux: its own CRB repository and its own EPEL release package.
        "ol": {
            "extra_repo": "ol9_codeready_builder",
            "extra_repo_enable": ("dnf", "config-manager", "--set-enabled", "ol9_codeready_builder"),
            "prerequisite_packages": ("oracle-epel-release-el9",),
        },
    },
)

DEBIAN_12 = Platform(
    key="debian12",
    title="Debian 12",
    distributions=("Debian 12 (bookworm)",),
    codename="bookworm",
    package_manager="apt",
    prerequisite_packages=("ca-certificates", "curl"),
    rspamd_repo_file="/etc/apt/sources.list.d/rspamd.list",
    rspamd_repo_template="repos/rspamd.list.j2",
    rspamd_key_url="https://rspamd.com/apt-stable/gpg.key",
    rspamd_key_file="/etc/apt/keyrings/rspamd.asc",
    rspamd_distro_package_ok=True,
    packages=("rspamd", "redis-server", "openssl"),
    antivirus_packages=("clamav-daemon", "clamav-freshclam"),
    clamd_conf="/etc/clamav/clamd.conf",
    clamd_unit="clamav-daemon",
    freshclam_unit="clamav-freshclam",
    clamd_socket="/var/run/clamav/clamd.ctl",
    clamd_socket_group="clamav",
    # Debian's clamd runs as clamav and its socket is 666: keep the user, close the socket.
    clamd_settings=(
        ("LogTime", ("yes",)),
        ("LocalSocket", ("/var/run/clamav/clamd.ctl",)),
        ("LocalSocketGroup", ("clamav",)),
        ("LocalSocketMode", ("660",)),
        ("ExcludePath", ("^/proc/", "^/sys/")),
    ),
    clamd_disabled=("Example",),
    clamav_db_dir="/var/lib/clamav",
    redis_conf_candidates=("/etc/redis/redis.conf",),
    redis_unit="redis-server",
    redis_group="redis",
    unbound_conf_dir="/etc/unbound/unbound.conf.d",
    # the root trust anchor unbound's first start copies: only recommended, and apt installs no recommends
    unbound_packages=("unbound", "dns-root-data"),
    # unbound's package would hand 127.0.0.1 to resolvconf (resolvectl with systemd-resolved)
    unbound_system_hooks=("unbound-resolvconf.service",),
    distro_rspamd_3_12=False,  # bookworm's rspamd is 3.4
    tunnel_packages=("stunnel4",),
    stunnel_binary="/usr/bin/stunnel4",
)

# Debian 13 and unstable package and place everything as Debian 12 does; their rspamd differs
# (3.12, 4.1), which the configuration handles, not the table; but for one thing the plan must know
# before rspamd is installed: whether it is 3.12 or later (Redis user names, lua.local.d; 3.4 is not).
DEBIAN_13 = dataclasses.replace(
    DEBIAN_12,
    key="debian13",
    title="Debian 13",
    distributions=("Debian 13 (trixie)",),
    codename="trixie",
    distro_rspamd_3_12=True,
)
DEBIAN_UNSTABLE = dataclasses.replace(
    DEBIAN_13,
    key="debian-unstable",
    title="Debian unstable",
    distributions=("Debian unstable (sid)",),
    codename="sid",
    rspamd_upstream_ok=False,  # rspamd publishes no repository for unstable: Debian's own package
)

# (os-release ID or an ID_LIKE entry, major VERSION_ID) -> platform
PLATFORMS: dict[tuple[str, str], Platform] = {
    **{(family, "9"): EL_9 for family in ("almalinux", "rocky", "rhel", "centos", "ol")},
    ("debian", "12"): DEBIAN_12,
    ("debian", "13"): DEBIAN_13,
    ("debian", "unstable"): DEBIAN_UNSTABLE,
}


class UnsupportedPlatform(Exception):
    pass


def supported() -> str:
    titles = dict.fromkeys(p.title for p in PLATFORMS.values())
    return ", ".join(titles)


def for_os_release(release: Mapping[str, str], arch: str = "x86_64") -> Platform:
    """The platform for a host's os-release fields (ID, ID_LIKE, VERSION_ID), with its variant applied."""
    os_id = (release.get("ID") or "").lower()
    version = release.get("VERSION_ID") or ""
    major = version.split(".")[0] if version else ("unstable" if os_id == "debian" else "")
    for candidate in [os_id, *(release.get("ID_LIKE") or "").lower().split()]:
        entry = PLATFORMS.get((candidate, major))
        if entry is not None:
            changes = dict(entry.variants.get(os_id, {}))
            platform = dataclasses.replace(entry, **changes) if changes else entry
            if platform.extra_repo:
                if not re.fullmatch(r"[A-Za-z0-9_]+", arch):
                    raise UnsupportedPlatform(f"unsupported machine name {arch!r} (uname -m)")
                platform = dataclasses.replace(
                    platform,
                    extra_repo=platform.extra_repo.format(arch=arch),
                    extra_repo_enable=tuple(word.format(arch=arch) for word in platform.extra_repo_enable or ()),
                )
            return platform
    found = " ".join(filter(None, [release.get("NAME") or os_id or "?", version or "(no VERSION_ID)"]))
    raise UnsupportedPlatform(f"unsupported system {found}: this deploy supports {supported()}")
