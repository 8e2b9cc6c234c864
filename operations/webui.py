"""The web UI behind a reverse proxy (nginx or OpenLiteSpeed, as in the seed), or loopback only."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import webui
from mailguard.platforms import Platform

from . import edits
from .repos import PACKAGE_INSTALLERS
from .templating import render

OLS_BEGIN = "# BEGIN mailguard: rspamd web UI (managed: a rerun of the deploy puts this block back)"
OLS_END = "# END mailguard: rspamd web UI"


def _context(settings) -> dict:
    return {
        "settings": settings,
        "tls": settings.webui_tls_certificate is not None,
        "scheme": "https" if settings.webui_tls_certificate else "http",
        "controller": webui.CONTROLLER,
    }


@deploy("Web UI")
def configure(settings, platform: Platform):
    if settings.webui_proxy == "none":
        return {}
    for boolean in platform.selinux_proxy_booleans:
        edits.selinux_boolean(name=f"SELinux: {boolean} on (the proxy reaches rspamd)", boolean=boolean)
    if settings.webui_proxy == "nginx":
        edits.packages(name="nginx installed", packages=[platform.nginx_package],
                       installer=PACKAGE_INSTALLERS[platform.package_manager])
        own_server = settings.webui_nginx_server
        context = _context(settings)
        locations = edits.text_file(
            name=f"nginx: {platform.nginx_locations_file}",
            path=platform.nginx_locations_file,
            content=render("webui/nginx-rspamd.locations.j2", **context, https_only=context["tls"] or not own_server,
                           included_by=platform.nginx_conf_file if own_server else f"your server for {settings.webui_server_name}"),
            backup="nginx",
        )
        if own_server:
            site = edits.text_file(
                name=f"nginx: {platform.nginx_conf_file}",
                path=platform.nginx_conf_file,
                content=render("webui/nginx-rspamd.conf.j2", **context, locations=platform.nginx_locations_file),
                backup="nginx",
            )
        else:
            # The admin's own server includes the locations: ours would clash with it.
            site = edits.file_absent(name=f"nginx: no {platform.nginx_conf_file}", path=platform.nginx_conf_file, backup="nginx")
        return {"nginx_reload": [locations, site]}
    block = edits.marked_block(
        name=f"OpenLiteSpeed: web UI in {settings.webui_ols_vhost_conf}",
        path=settings.webui_ols_vhost_conf,
        begin=OLS_BEGIN,
        end=OLS_END,
        content=render("webui/openlitespeed-rspamd.conf.j2", allow_regex=webui.allow_regex(settings.webui_allow),
                       **_context(settings)),
        backup="openlitespeed",
    )
    return {"openlitespeed_restart": [block]}
