"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from mailguard import capacity, learning
from mailguard import dkim as dkim_model
from mailguard.layout import MANAGED_MARK
from mailguard.platforms import UnsupportedPlatform, for_os_release
from mailguard.settings import Settings
from mailguard.takeover import dkim_conflicts

from . import dkim
from .context import HostContext
from .profile import SIGNING_CONFIGURATIONS, required_paths, system_profile
from .run import run_of


class PreflightError(PyinfraError):
    pass


def context(target: Host, settings: Settings) -> HostContext:
    """``target`` as the steps see it, its platform named by its profile; no DKIM key states yet.
    An unsupported system is a ``PreflightError``."""
    system = system_profile(target, settings)
    try:
        platform = for_os_release(system, arch=system.get("arch") or "x86_64")
    except UnsupportedPlatform as error:
        raise PreflightError(f"mailguard: {target.name}: {error}; nothing was changed") from None
    return HostContext(target, settings, platform, system, run_of(target.state).reads(target))


def prepare(
    target: Host, settings: Settings, key_states: Mapping[str, dkim_model.KeyState] | None = None
) -> HostContext:
    """``target``'s context after every check that must pass before anything changes, with its
    DKIM key states (``key_states`` where given: a restored backup's)."""
    ctx = context(target, settings)
    check(ctx)
    return ctx.with_key_states(dkim.key_states(ctx) if key_states is None else key_states)


def refusal(ctx: HostContext) -> str | None:
    """Why this host must not be touched, in one line; None when it may."""
    settings, platform, system = ctx.settings, ctx.platform, ctx.system
    if settings.rspamd_source == "distro" and not platform.rspamd_distro_package_ok:
        return f"rspamd_source: 'distro' is not available on {platform.title}; use 'upstream'"
    if settings.rspamd_source == "upstream" and not platform.rspamd_upstream_ok:
        return f"rspamd_source: rspamd's repository does not serve {platform.title}; use 'distro'"
    if not system.get("postfix"):
        return "postfix is not installed: this deploy adds filtering to a working Postfix"
    for path in required_paths(settings):
        if path not in system["exists"]:
            return f"webui_ols_vhost_conf: {path} does not exist on the host: is OpenLiteSpeed's virtual host set up?"
    signing = {path: system["texts"][path] for path in SIGNING_CONFIGURATIONS if path in system["texts"]}
    own = {path: text for path, text in signing.items() if MANAGED_MARK not in "".join(text.splitlines()[:2])}
    conflicts = dkim_conflicts(own, settings, platform.rspamd_db_dir)
    if conflicts:
        return conflicts[0]
    # (where sentinels choose the primary, they make a returning host a replica, which takes the
    # primary's data: no host's own is kept apart from the group's)
    fixed_replica = settings.redis_role == "replica" and not settings.redis_failover
    if fixed_replica and system.get("redis_role") == "master" and system.get("redis_keys"):
        return (
            f"redis_primary: this host's Redis holds {system['redis_keys']} keys (Bayes, greylisting, history) that "
            f"becoming a replica of {settings.redis_primary} would replace: back them up (backup.py), stop Redis "
            f"and move {platform.redis_dump} aside, or make this host the primary"
        )
    dovecot = learning.refusal(settings, system)
    if dovecot:
        return dovecot
    return resources(ctx).refuse


def check(ctx: HostContext) -> None:
    """Every check that must pass before anything on the host changes.

    A refusal is a ``PreflightError`` (a pyinfra error: its CLI prints one line, no traceback).
    """
    problem = refusal(ctx)
    if problem:
        raise PreflightError(f"mailguard: {ctx.name}: {problem}; nothing was changed")
    for warning in resources(ctx).warnings:
        logger.warning(f"{ctx.name}: {warning}")


def resources(ctx: HostContext) -> capacity.Verdict:
    settings, system = ctx.settings, ctx.system
    return capacity.assess(
        system.get("mem_kib"), system.get("swap_kib"), system.get("disk_free_kib"), settings.antivirus
    )
