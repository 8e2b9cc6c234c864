"""Before any change: the system is one we support, and Postfix is there to hook into."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from gevent.lock import Semaphore
from pyinfra import host, logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from mailguard import capacity, learning, opendkim, rspamd_config
from mailguard.layout import DKIM_STATE, MANAGED_MARK, RSPAMD_CONF_DIR, dkim_dir
from mailguard.platforms import PLATFORMS, Platform, UnsupportedPlatform, for_os_release
from mailguard.takeover import dkim_conflicts

from . import hoststate
from .facts import read_profile
from .hoststate import current_host


class PreflightError(PyinfraError):
    pass


def required_paths(settings) -> list[str]:
    """Files the admin's own setup must already have for these settings."""
    return [settings.webui_ols_vhost_conf] if settings.webui_proxy == "openlitespeed" else []


# What a server set up by hand may already sign with (read before anything changes).
SIGNING_CONFIGURATIONS = tuple(f"{RSPAMD_CONF_DIR}/local.d/{name}" for name in ("dkim_signing.conf", "arc.conf"))

CONTROLLER_FILE = f"{RSPAMD_CONF_DIR}/{rspamd_config.CONTROLLER}"  # its password hashes, checked early

_PROFILES: WeakKeyDictionary[Host, dict] = WeakKeyDictionary()


_ASKING: WeakKeyDictionary[Host, Semaphore] = WeakKeyDictionary()
# Where every platform keeps DKIM keys (rspamd's DBDIR/dkim): the profile gives each key's sha256.
KEY_DIRS = tuple(sorted({dkim_dir(p.rspamd_db_dir) for p in PLATFORMS.values()}))


def profile(settings) -> dict:
    """Asked once per run: nothing the deploy does changes these."""
    return profile_of(current_host(), settings)


def profile_of(target: Host, settings) -> dict:
    """``profile`` of any host of the run (another host's DKIM keys), asked once whoever asks first."""
    with _ASKING.setdefault(target, Semaphore()):  # hosts are planned side by side (greenlets)
        if target not in _PROFILES:
            texts = (*SIGNING_CONFIGURATIONS, DKIM_STATE, opendkim.CONF)
            pwhash = ("pwhash", CONTROLLER_FILE)  # (the profile's own answer: not asked twice)
            # the state read's questions of the last run, answered in the same command
            wants = [w for w in hoststate.recall(target) if w != pwhash]
            _PROFILES[target] = read_profile(
                target,
                paths=required_paths(settings),
                texts=texts,
                password_files=(CONTROLLER_FILE,),
                key_dirs=KEY_DIRS,
                # (every platform's socket is the seed's: settings alone say whether to ask)
                redis_socket=Platform.redis_socket if settings.redis_role == "replica" else "",
                wants=wants,
            )
            hashes = [f"{key} {salt} {digest}" for key, (salt, digest) in _PROFILES[target]["pwhashes"].items()]
            hoststate.answered_before_changes(target, {**_PROFILES[target]["state"], pwhash: hashes}, [*wants, pwhash])
    return _PROFILES[target]


def detect_platform(settings) -> Platform:
    system = profile(settings)
    try:
        return for_os_release(system, arch=system.get("arch") or "x86_64")
    except UnsupportedPlatform as error:
        raise PreflightError(str(error)) from None


def refusal(settings) -> str | None:
    """Why this host must not be touched, in one line; None when it may."""
    try:
        platform = detect_platform(settings)
    except PreflightError as error:
        return str(error)
    if settings.rspamd_source == "distro" and not platform.rspamd_distro_package_ok:
        return f"rspamd_source: 'distro' is not available on {platform.title}; use 'upstream'"
    if settings.rspamd_source == "upstream" and not platform.rspamd_upstream_ok:
        return f"rspamd_source: rspamd's repository does not serve {platform.title}; use 'distro'"
    system = profile(settings)
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
    if settings.redis_role == "replica" and system.get("redis_role") == "master" and system.get("redis_keys"):
        return (
            f"redis_primary: this host's Redis holds {system['redis_keys']} keys (Bayes, greylisting, history) that "
            f"becoming a replica of {settings.redis_primary} would replace: back them up (backup.py) and empty it "
            "(redis-cli flushall), or make this host the primary"
        )
    dovecot = learning.refusal(settings, system)
    if dovecot:
        return dovecot
    return resources(settings).refuse


def check(settings) -> Platform:
    """The host's platform, after every check that must pass before anything changes.

    A refusal is a ``PreflightError`` (a pyinfra error: its CLI prints one line, no traceback).
    """
    problem = refusal(settings)
    if problem:
        raise PreflightError(f"mailguard: {host.name}: {problem}; nothing was changed")
    for warning in resources(settings).warnings:
        logger.warning(f"{host.name}: {warning}")
    return detect_platform(settings)


def resources(settings) -> capacity.Verdict:
    system = profile(settings)
    return capacity.assess(
        system.get("mem_kib"), system.get("swap_kib"), system.get("disk_free_kib"), settings.antivirus
    )
