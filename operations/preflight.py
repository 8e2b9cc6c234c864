"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from mailguard.platforms import Platform, UnsupportedPlatform, for_os_release

from .facts import SystemProfile


class PreflightError(Exception):
    pass


def profile() -> dict:
    """Asked once per run: nothing the deploy does changes these."""
    cached = getattr(host, "_mailguard_profile", None)
    if cached is None:
        cached = host._mailguard_profile = host.get_fact(SystemProfile)
    return cached


def detect_platform() -> Platform:
    system = profile()
    try:
        return for_os_release(system.get("os_id"), system.get("os_version"))
    except UnsupportedPlatform as error:
        raise PreflightError(str(error)) from None


@deploy("Preflight")
def check(settings, platform: Platform):
    if settings.rspamd_source == "distro" and not platform.rspamd_distro_package_ok:
        raise PreflightError(f"rspamd_source: 'distro' is not available on {platform.title}; use 'upstream'")
    if not profile().get("postfix"):
        raise PreflightError("postfix is not installed: this deploy adds filtering to a working Postfix")
