"""rspamd's configuration: local.d/ and override.d/ only, never the shipped files."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from mailguard import rspamd_config
from mailguard.platforms import Platform

from . import edits
from .templating import render


@deploy("rspamd configuration")
def configure(settings, platform: Platform):
    conf_dir = platform.rspamd_conf_dir
    user, group = platform.rspamd_user, platform.rspamd_group
    reload_on, restart_on = [], []

    for relative in rspamd_config.TEMPLATED:
        op = edits.text_file(
            name=f"rspamd: {relative}",
            path=f"{conf_dir}/{relative}",
            content=render(f"rspamd/{relative}.j2", settings=settings, platform=platform, maps_dir=rspamd_config.MAPS_DIR),
            backup="rspamd",
        )
        (restart_on if rspamd_config.needs_restart(relative) else reload_on).append(op)

    restart_on.append(
        edits.controller_config(
            name=f"rspamd: {rspamd_config.CONTROLLER} (password hashes)",
            path=f"{conf_dir}/{rspamd_config.CONTROLLER}",
            render=lambda **hashes: render(f"rspamd/{rspamd_config.CONTROLLER}.j2", settings=settings, platform=platform, **hashes),
            password=settings.controller_password,
            enable_password=settings.enable_password,
            user="root",
            group=group,
            backup="rspamd",
        )
    )

    for relative, content in settings.rspamd_snippets:
        op = edits.text_file(
            name=f"rspamd: custom {relative}",
            path=f"{conf_dir}/{relative}",
            content=content if content.endswith("\n") else content + "\n",
            backup="rspamd",
            secret=True,  # an admin's snippet may hold credentials (a redis password, an API key)
        )
        (restart_on if rspamd_config.needs_restart(relative) else reload_on).append(op)

    edits.directory(
        name=f"rspamd: {rspamd_config.MAPS_DIR}/ writable by the web UI",
        path=f"{conf_dir}/{rspamd_config.MAPS_DIR}",
        user=user,
        group=group,
        mode=755,
    )
    for map_name, setting in rspamd_config.MAPS.items():
        reload_on.append(
            edits.map_file(
                name=f"rspamd: map {rspamd_config.MAPS_DIR}/{map_name}",
                path=f"{conf_dir}/{rspamd_config.MAPS_DIR}/{map_name}",
                entries=list(getattr(settings, setting)),
                user=user,
                group=group,
                backup="rspamd",
            )
        )
    if settings.antivirus:
        reload_on.append(
            edits.map_file(
                name=f"rspamd: {rspamd_config.ANTIVIRUS_WHITELIST}",
                path=f"{conf_dir}/{rspamd_config.ANTIVIRUS_WHITELIST}",
                entries=[],
                user=user,
                group=group,
            )
        )

    timer_units = []
    for unit in ("rspamd-dmarc-report.service", "rspamd-dmarc-report.timer"):
        timer_units.append(
            edits.text_file(
                name=f"DMARC reports: {unit}",
                path=f"/etc/systemd/system/{unit}",
                content=render(f"systemd/{unit}.j2", settings=settings, platform=platform),
            )
        )
    systemd.daemon_reload(name="DMARC reports: systemd reads the new units", _if=any_changed(*timer_units))
    edits.service(
        name="DMARC reports: timer enabled" if settings.dmarc_reporting else "DMARC reports: timer off",
        unit="rspamd-dmarc-report.timer",
        running=settings.dmarc_reporting,
        enabled=settings.dmarc_reporting,
    )
    return {"rspamd_reload": reload_on, "rspamd_restart": restart_on}
