"""The system profile: what the host is and holds before anything changes, asked once per run in
one command (facts.SystemProfile), with the state read's questions of the last run answered in it."""

from __future__ import annotations

from pyinfra.api.host import Host

from mailguard import opendkim, rspamd_config, sentinel
from mailguard.layout import DKIM_STATE, RSPAMD_CONF_DIR, dkim_dir
from mailguard.platforms import PLATFORMS, Platform
from mailguard.settings import Settings

from .facts import read_profile
from .hoststate import HostReads
from .run import run_of


def required_paths(settings: Settings) -> list[str]:
    """Files the admin's own setup must already have for these settings."""
    return [settings.webui_ols_vhost_conf] if settings.webui_proxy == "openlitespeed" else []


# What a server set up by hand may already sign with (read before anything changes).
SIGNING_CONFIGURATIONS = tuple(f"{RSPAMD_CONF_DIR}/local.d/{name}" for name in ("dkim_signing.conf", "arc.conf"))

CONTROLLER_FILE = f"{RSPAMD_CONF_DIR}/{rspamd_config.CONTROLLER}"  # its password hashes, checked early

# Where every platform keeps DKIM keys (rspamd's DBDIR/dkim): the profile gives each key's sha256.
KEY_DIRS = tuple(sorted({dkim_dir(p.rspamd_db_dir) for p in PLATFORMS.values()}))


def system_profile(target: Host, settings: Settings) -> dict:
    """``target``'s system profile, asked once per run whoever asks first (a group's host asks
    another's for its DKIM keys): nothing the deploy does changes what it holds."""
    return run_of(target.state).profile(target, lambda reads: _read_profile(reads, settings))


def _read_profile(reads: HostReads, settings: Settings) -> dict:
    texts = (*SIGNING_CONFIGURATIONS, DKIM_STATE, opendkim.CONF)
    pwhash = ("pwhash", CONTROLLER_FILE)  # (the profile's own answer: not asked twice)
    # the state read's questions of the last run, answered in the same command
    wants = [w for w in reads.recall() if w != pwhash]
    system = read_profile(
        reads.target,
        paths=required_paths(settings),
        texts=texts,
        password_files=(CONTROLLER_FILE,),
        key_dirs=KEY_DIRS,
        # (every platform's socket is the seed's: settings alone say whether to ask)
        redis_socket=Platform.redis_socket if settings.redis_role == "replica" and not settings.redis_failover else "",
        sentinel=_sentinel(settings),
        wants=wants,
    )
    hashes = [f"{key} {salt} {digest}" for key, (salt, digest) in system["pwhashes"].items()]
    reads.answered_before_changes({**system["state"], pwhash: hashes}, [*wants, pwhash])
    return system


def _sentinel(settings: Settings) -> tuple[str, int, str] | None:
    """Where this host's sentinel listens, in a group whose sentinels choose the primary."""
    if not settings.redis_failover:
        return None
    assert settings.private_address is not None
    return sentinel.loopback(settings.private_address), sentinel.PORT, sentinel.MASTER
