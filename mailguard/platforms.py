"""Every difference between the supported systems, as one table entry each.

Operations read fields of a ``Platform``; none of them asks which system it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    key: str
    title: str
    package_manager: str  # "dnf" or "apt": picks the pyinfra package operations
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
    # Postfix and rspamd
    postfix_unit: str = "postfix"
    rspamd_unit: str = "rspamd"
    rspamd_user: str = "_rspamd"
    rspamd_group: str = "_rspamd"
    rspamd_conf_dir: str = "/etc/rspamd"
    rspamd_db_dir: str = "/var/lib/rspamd"
    redis_socket: str = "/run/redis/redis.sock"
    postfix_main_cf: str = "/etc/postfix/main.cf"
    # SELinux booleans set on (persistently) when SELinux is not disabled
    selinux_booleans: tuple[str, ...] = ()
    selinux_proxy_booleans: tuple[str, ...] = ()  # when a reverse proxy publishes the web UI
    # The web UI's reverse proxies
    nginx_package: str = "nginx"
    nginx_unit: str = "nginx"
    nginx_conf_file: str = "/etc/nginx/conf.d/mailguard-rspamd.conf"  # our server block
    nginx_locations_file: str = "/etc/nginx/mailguard-rspamd.locations"  # included by it, or by the admin's server
    ols_unit: str = "lsws"
    ols_binary: str = "/usr/local/lsws/bin/openlitespeed"


ALMALINUX_9 = Platform(
    key="almalinux9",
    title="AlmaLinux 9",
    package_manager="dnf",
    prerequisite_packages=("epel-release",),
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
    clamd_disabled=("Example", "User"),
    clamav_db_dir="/var/lib/clamav",
    redis_conf_candidates=("/etc/redis/redis.conf", "/etc/redis.conf"),
    redis_unit="redis",
    redis_group="redis",
    # antivirus.te: clamd may read the files rspamd hands it, and use its JIT.
    selinux_booleans=("antivirus_can_scan_system", "antivirus_use_jit"),
    # httpd_t may not connect to 11334 otherwise (nginx and lsws run as httpd_t).
    selinux_proxy_booleans=("httpd_can_network_connect",),
)

DEBIAN_12 = Platform(
    key="debian12",
    title="Debian 12",
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
)

# os-release (ID, major VERSION_ID) -> platform
PLATFORMS: dict[tuple[str, str], Platform] = {
    ("almalinux", "9"): ALMALINUX_9,
    ("debian", "12"): DEBIAN_12,
}


class UnsupportedPlatform(Exception):
    pass


def for_os_release(os_id: str | None, version_id: str | None) -> Platform:
    major = (version_id or "").split(".")[0]
    try:
        return PLATFORMS[((os_id or "").lower(), major)]
    except KeyError:
        supported = ", ".join(p.title for p in PLATFORMS.values())
        raise UnsupportedPlatform(
            f"unsupported system {os_id or '?'} {version_id or '?'}: this deploy supports {supported}"
        ) from None
