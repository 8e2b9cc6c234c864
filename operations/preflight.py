"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution, Which

from mailguard.platforms import Platform, UnsupportedPlatform, for_os_release


class PreflightError(Exception):
    pass


def detect_platform() -> Platform:
    distro = host.get_fact(LinuxDistribution)
    release = distro.get("release_meta", {}) if distro else {}
    try:
        return for_os_release(release.get("ID"), release.get("VERSION_ID"))
    except UnsupportedPlatform as error:
        raise PreflightError(str(error)) from None


@deploy("Preflight")
def check(settings, platform: Platform):
    if settings.rspamd_source == "distro" and not platform.rspamd_distro_package_ok:
        raise PreflightError(f"rspamd_source: 'distro' is not available on {platform.title}; use 'upstream'")
    if not host.get_fact(Which, command="postfix"):
        raise PreflightError("postfix is not installed: this deploy adds filtering to a working Postfix")
