"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy

from mailguard import capacity
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
    system = profile()
    if not system.get("postfix"):
        raise PreflightError("postfix is not installed: this deploy adds filtering to a working Postfix")
    verdict = resources(settings)
    if verdict.refuse:
        raise PreflightError(verdict.refuse)
    for warning in verdict.warnings:
        logger.warning(f"{host.name}: {warning}")
    selinux = system.get("selinux", "absent")
    if platform.selinux_booleans and selinux not in ("absent", "Disabled"):
        logger.info(f"{host.name}: SELinux is {selinux}: turning on {', '.join(platform.selinux_booleans)}")


def resources(settings) -> capacity.Verdict:
    system = profile()
    return capacity.assess(system.get("mem_kib"), system.get("swap_kib"), system.get("disk_free_kib"), settings.antivirus)
