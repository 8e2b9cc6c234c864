"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy

from mailguard import capacity
from mailguard.platforms import Platform, UnsupportedPlatform, for_os_release

from .facts import SystemProfile


class PreflightError(Exception):
    pass


def required_paths(settings) -> list[str]:
    """Files the admin's own setup must already have for these settings."""
    return [settings.webui_ols_vhost_conf] if settings.webui_proxy == "openlitespeed" else []


def profile(settings) -> dict:
    """Asked once per run: nothing the deploy does changes these."""
    cached = getattr(host, "_mailguard_profile", None)
    if cached is None:
        cached = host._mailguard_profile = host.get_fact(SystemProfile, paths=required_paths(settings))
    return cached


def detect_platform(settings) -> Platform:
    system = profile(settings)
    try:
        return for_os_release(system.get("os_id"), system.get("os_version"))
    except UnsupportedPlatform as error:
        raise PreflightError(str(error)) from None


@deploy("Preflight")
def check(settings, platform: Platform):
    if settings.rspamd_source == "distro" and not platform.rspamd_distro_package_ok:
        raise PreflightError(f"rspamd_source: 'distro' is not available on {platform.title}; use 'upstream'")
    system = profile(settings)
    if not system.get("postfix"):
        raise PreflightError("postfix is not installed: this deploy adds filtering to a working Postfix")
    for path in required_paths(settings):
        if path not in system["exists"]:
            raise PreflightError(f"webui_ols_vhost_conf: {path} does not exist on the host: is OpenLiteSpeed's virtual host set up?")
    verdict = resources(settings)
    if verdict.refuse:
        raise PreflightError(verdict.refuse)
    for warning in verdict.warnings:
        logger.warning(f"{host.name}: {warning}")
    selinux = system.get("selinux", "absent")
    if platform.selinux_booleans and selinux not in ("absent", "Disabled"):
        logger.info(f"{host.name}: SELinux is {selinux}: turning on {', '.join(platform.selinux_booleans)}")


def resources(settings) -> capacity.Verdict:
    system = profile(settings)
    return capacity.assess(system.get("mem_kib"), system.get("swap_kib"), system.get("disk_free_kib"), settings.antivirus)
