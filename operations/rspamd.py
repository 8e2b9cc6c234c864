"""rspamd's configuration: local.d/ and override.d/ only, never the shipped files."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy

from mailguard import dkim, layout, redis_acl, rspamd_config, rspamd_password, sentinel
from mailguard.layout import original
from mailguard.platforms import Platform
from mailguard.settings import Settings

from . import files, system
from .activate import Changes, reload, restart
from .context import HostContext
from .hoststate import HostReads, Snapshot, operation_reading
from .repos import PACKAGE_INSTALLERS
from .templating import render


def _controller_wants(path: str, *a, **k) -> list[tuple[str, str]]:
    return [("pwhash", path), ("stat", path), ("managed", path), ("stat", original(path))]


@functools.lru_cache(maxsize=16)  # pyinfra runs each operation twice (plan, execute): one PBKDF2 each time
def kept_hash(secret: str, stored: tuple[str, str] | None) -> str | None:
    """The stored hash, rebuilt here from its salt, when it is a hash of ``secret``; else None.

    The host gives only each hash's salt and a sha256 of the whole hash, never the hash itself:
    pyinfra prints what facts read at -vvv.
    """
    if stored is None:
        return None
    salt, digest = stored
    try:
        candidate = rspamd_password.make_hash(secret, salt=rspamd_password.base32_decode(salt))
    except ValueError:
        return None
    return candidate if hashlib.sha256(candidate.encode()).hexdigest() == digest else None


_EARLY: dict[tuple[str, tuple[str, str] | None], Any] = {}


def check_passwords_early(settings: Settings, stored: dict[str, tuple[str, str]]) -> None:
    """Start checking the stored hashes (the system profile gave their salts) in the background:
    PBKDF2 runs while the deploy waits for the state read, when one is on its way
    (HostReads.read_ahead, sent before; none when the system profile answered it all), instead of
    after it (gevent: pyinfra's loop)."""
    import gevent

    for key, secret in (("password", settings.controller_password), ("enable_password", settings.enable_password)):
        if key in stored and (secret, stored[key]) not in _EARLY:
            _EARLY[(secret, stored[key])] = gevent.spawn(kept_hash, secret, stored[key])


def _kept(secret: str, stored: tuple[str, str] | None) -> str | None:
    early = _EARLY.get((secret, stored))
    return early.get() if early is not None else kept_hash(secret, stored)


@files.leaves("whole", lambda path, *a, **k: [path])
@operation_reading(_controller_wants)
def controller_config(
    path: str,
    render,
    password: str,
    enable_password: str,
    user: str,
    group: str,
    backup: str | None = None,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """worker-controller.inc with password hashes that are replaced only when they stop verifying.

    ``render(password_hash=..., enable_password_hash=...)`` gives the file's text.
    """
    if files.planted_link(reads, state.stat(path), path):
        return
    stored = state.password_hashes(path)
    hashes = {}
    for key, secret in (("password", password), ("enable_password", enable_password)):
        hashes[key] = _kept(secret, stored.get(key)) or rspamd_password.make_hash(secret)
    content = render(password_hash=hashes["password"], enable_password_hash=hashes["enable_password"])
    commands = files.file_commands(path, content, state.stat(path), user, group, 640, backup)
    if not commands:
        host.noop(f"{path}: passwords still verify")
        return
    yield from files.keep_admins_version(reads, state, path, content)
    yield from commands


@operation_reading(lambda query, *a, **k: [(query, "rspamd"), ("text", layout.RSPAMD_RELEASE)])
def release(query: str, *, reads: HostReads, state: Snapshot):
    """The installed rspamd: one warning line when it is a release with a known fault, one when it
    is not the release the last run configured (``dnf upgrade`` or ``apt upgrade`` moved it); its
    version is recorded, and a new one counts as a change of rspamd's (checked, then reloaded).
    ``query``: the hoststate kind that asks the platform's package manager (no process of rspamd's)."""
    version = state.package_version(query, "rspamd")
    fault = rspamd_config.FAULTY_RELEASES.get(version or "")
    if fault:
        reads.warn_once(f"rspamd {version} {fault}")
    recorded = (state.text(layout.RSPAMD_RELEASE) or "").strip()
    if version and recorded and recorded != version:
        reads.warn_once(
            f"rspamd {recorded} -> {version}: upgraded since the last run; its configuration is checked again"
        )
    if not version or recorded == version:
        host.noop(f"rspamd {version or '(not installed yet)'}")
        return
    yield from files.install_file(version + "\n", layout.RSPAMD_RELEASE, ("root", "root", 644))


def _template_context(ctx: HostContext) -> dict[str, Any]:
    """What rspamd's templates are rendered with."""
    settings, platform = ctx.settings, ctx.platform
    return {
        "settings": settings,
        "platform": platform,
        "layout": layout,
        "maps_dir": rspamd_config.MAPS_DIR,
        "multimaps": rspamd_config.MULTIMAPS,
        "unreachable_score": rspamd_config.UNREACHABLE_SCORE,
        "loopback_networks": rspamd_config.LOOPBACK_NETWORKS,
        **rspamd_config.FUZZY_CONTEXT,
        "bayes_spam_weight": rspamd_config.bayes_spam_weight(settings.add_header_score),
        "hostname_unknown_weight": rspamd_config.HOSTNAME_UNKNOWN_WEIGHT,
        # the domains that sign with an Ed25519 key too (its record served: dkim_rotate.py), and its selector
        "ed25519_selectors": {
            d: dkim.ed25519_selector(state.signing)
            for d, state in ctx.key_states.items()
            if settings.dkim_ed25519 and state.signs_ed25519
        },
    }


@deploy("rspamd configuration")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    conf_dir = platform.rspamd_conf_dir
    group = platform.rspamd_group
    installed = release(
        PACKAGE_INSTALLERS[platform.package_manager].query,
        name="rspamd: the release installed, recorded",
        reads=ctx.reads,
    )
    reload_on: list[Any] = [installed]
    restart_on: list[Any] = []
    context = _template_context(ctx)
    if len(settings.group_addresses) > 1 and settings.webui_proxy != "none" and not settings.webui_https:
        logger.warning(
            f"{ctx.name}: the group's web UIs are not listed as each other's neighbours: a browser would send the "
            "web UI password to them over plain HTTP (set webui_tls_certificate and webui_tls_key)"
        )

    for relative in rspamd_config.templated(platform.installs_rspamd_3_12(settings.rspamd_source)):
        op = files.text_file(
            name=f"rspamd: {relative}",
            path=f"{conf_dir}/{relative}",
            content=render(f"rspamd/{relative}.j2", **context),
            backup="rspamd",
            reads=ctx.reads,
        )
        (restart_on if rspamd_config.needs_restart(relative) else reload_on).append(op)

    restart_on.append(
        controller_config(
            name=f"rspamd: {rspamd_config.CONTROLLER} (password hashes)",
            path=f"{conf_dir}/{rspamd_config.CONTROLLER}",
            render=lambda **hashes: render(f"rspamd/{rspamd_config.CONTROLLER}.j2", **context, **hashes),
            password=settings.controller_password,
            enable_password=settings.enable_password,
            user="root",
            group=group,
            backup="rspamd",
            reads=ctx.reads,
        )
    )

    reload_on += _files_with_secrets(ctx, context)

    for relative, op in _snippets(ctx):
        (restart_on if rspamd_config.needs_restart(relative) else reload_on).append(op)

    reload_on += _maps(ctx)
    _dmarc_report_timer(ctx)
    return {reload("rspamd"): reload_on, restart("rspamd"): restart_on}


def _files_with_secrets(ctx: HostContext, context: dict) -> list[Any]:
    """rbl.conf (with a Spamhaus DQS key) and redis.conf (with replication, the group's Redis
    password): only root writes them, only rspamd reads them, and they are never diffed."""
    settings, platform = ctx.settings, ctx.platform
    conf_dir, group = platform.rspamd_conf_dir, platform.rspamd_group
    return [
        files.text_file(
            name=f"rspamd: {rspamd_config.RBL} (Spamhaus DQS {'on' if settings.spamhaus_dqs_key else 'off'})",
            path=f"{conf_dir}/{rspamd_config.RBL}",
            content=render(f"rspamd/{rspamd_config.RBL}.j2", key=settings.spamhaus_dqs_key),
            backup="rspamd",
            secret=True,
            user="root",
            group=group,
            mode=640,
            reads=ctx.reads,
        ),
        files.text_file(
            name=f"rspamd: {rspamd_config.REDIS} (Redis: {_redis_servers(settings)})",
            path=f"{conf_dir}/{rspamd_config.REDIS}",
            content=render(
                f"rspamd/{rspamd_config.REDIS}.j2",
                **context,
                write_server=_redis_write_server(settings, platform),
                sentinels=sentinel.rspamd_sentinel(settings.private_address or "") if settings.redis_failover else "",
                sentinel=sentinel,
                redis_username=redis_acl.RSPAMD if platform.installs_rspamd_3_12(settings.rspamd_source) else "",
                redis_password=redis_acl.password(settings.redis_password, redis_acl.RSPAMD),
            ),
            backup="rspamd",
            secret=True,
            user="root",
            group=group,
            mode=640,
            reads=ctx.reads,
        ),
    ]


def _redis_write_server(settings: Settings, platform: Platform) -> str:
    """Where rspamd writes: its own Redis; on a replica of a fixed primary, the primary through the
    group's TLS tunnel (its local end); where sentinels choose the primary, the one the settings
    name until rspamd has asked them (as soon as it starts)."""
    if settings.redis_failover:
        assert settings.redis_primary is not None
        return f"{sentinel.loopback(settings.redis_primary)}:{sentinel.REDIS_PORT}"
    if settings.redis_role != "replica":
        return platform.redis_socket
    return f"{layout.TUNNEL_HOST}:{layout.TUNNEL_PORT}"


def _redis_servers(settings: Settings) -> str:
    if settings.redis_failover:
        return "the group's primary, as its sentinels name it"
    return {
        "standalone": "its own, on the socket",
        "primary": "the group's primary, here",
        "replica": f"reads its replica, writes to {settings.redis_primary} through the group's tunnel",
    }[settings.redis_role]


def maps_directory(
    reads: HostReads, platform: Platform, name: str = f"rspamd: {rspamd_config.MAPS_DIR}/ writable by the web UI"
):
    """Where the multimap lists live: a directory the web UI may write."""
    return files.directory(
        name=name,
        path=f"{platform.rspamd_conf_dir}/{rspamd_config.MAPS_DIR}",
        user=platform.rspamd_user,
        group=platform.rspamd_group,
        mode=755,
        reads=reads,
    )


def _maps(ctx: HostContext) -> list[Any]:
    """The multimap lists in a directory the web UI may write, each seeded from its setting."""
    settings, platform = ctx.settings, ctx.platform
    conf_dir, user, group = platform.rspamd_conf_dir, platform.rspamd_user, platform.rspamd_group
    maps_directory(ctx.reads, platform)
    return [
        files.map_file(
            name=f"rspamd: map {rule.path}",
            path=f"{conf_dir}/{rule.path}",
            entries=list(getattr(settings, rule.setting)),
            legacy=f"{conf_dir}/{rule.legacy_path}",
            user=user,
            group=group,
            backup="rspamd",
            reads=ctx.reads,
        )
        for rule in rspamd_config.MULTIMAPS
    ]


DMARC_REPORT_UNITS = ("rspamd-dmarc-report.service", "rspamd-dmarc-report.timer")
DMARC_REPORT_TIMER = DMARC_REPORT_UNITS[1]


def _dmarc_report_timer(ctx: HostContext) -> None:
    """rspamd collects DMARC reports but sends none by itself: a daily rspamadm dmarc_report."""
    settings, platform = ctx.settings, ctx.platform
    # In a group the reports' data is in the primary's Redis, and one host sends them: the primary;
    # where sentinels choose it, every host's timer runs and only the primary's goes on.
    primary_here = None
    if settings.redis_failover:
        assert settings.private_address is not None
        primary_here = [
            layout.PRIMARY_HERE,
            sentinel.loopback(settings.private_address),
            sentinel.PORT,
            sentinel.MASTER,
        ]
    system.unit_files(
        "DMARC reports", DMARC_REPORT_UNITS, ctx.reads, settings=settings, platform=platform, primary_here=primary_here
    )
    sends = settings.dmarc_reporting and (settings.redis_role != "replica" or settings.redis_failover)
    system.service(
        name="DMARC reports: timer enabled" if sends else "DMARC reports: timer off",
        unit=DMARC_REPORT_TIMER,
        running=sends,
        enabled=sends,
        reads=ctx.reads,
    )


def _snippets(ctx: HostContext) -> list[tuple[str, Any]]:
    """The admin's own files from rspamd_snippets: (relative path, operation)."""
    platform = ctx.platform
    return [
        (
            relative,
            files.text_file(
                name=f"rspamd: custom {relative}",
                path=f"{platform.rspamd_conf_dir}/{relative}",
                content=content if content.endswith("\n") else content + "\n",
                backup="rspamd",
                secret=True,  # an admin's snippet may hold credentials (a redis password, an API key):
                user="root",  # so only root writes it and only rspamd reads it
                group=platform.rspamd_group,
                mode=640,
                reads=ctx.reads,
            ),
        )
        for relative, content in ctx.settings.rspamd_snippets
    ]
