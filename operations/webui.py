"""The web UI behind a reverse proxy (nginx or OpenLiteSpeed, as in the seed), or loopback only."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import layout, webui
from mailguard.settings import Settings

from . import edits, files, system
from .activate import Changes, reload
from .context import HostContext
from .repos import PACKAGE_INSTALLERS
from .templating import render

OLS_BEGIN = "# BEGIN mailguard: rspamd web UI (managed: a rerun of the deploy puts this block back)"
OLS_END = "# END mailguard: rspamd web UI"


def _context(settings: Settings) -> dict:
    return {
        "settings": settings,
        "tls": settings.webui_tls_certificate is not None,
        "scheme": "https" if settings.webui_tls_certificate else "http",
        "controller": layout.CONTROLLER_ADDRESS,
    }


@deploy("Web UI")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    if settings.webui_proxy == "none":
        return {}
    if platform.firewall_unit:
        system.firewall_services(
            name=f"{platform.firewall_unit}: http and https open for the web UI",
            unit=platform.firewall_unit,
            services=["http", "https"],
            reads=ctx.reads,
        )
    if settings.webui_proxy == "nginx":
        return _nginx(ctx)
    return _openlitespeed(ctx)


def _openlitespeed(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    block = edits.marked_block(
        name=f"OpenLiteSpeed: web UI in {settings.webui_ols_vhost_conf}",
        path=settings.webui_ols_vhost_conf,
        begin=OLS_BEGIN,
        end=OLS_END,
        content=render(
            "webui/openlitespeed-rspamd.conf.j2",
            allow_regex=webui.allow_regex(settings.webui_allow),
            **_context(settings),
        ),
        missing="is OpenLiteSpeed's virtual host configured?",
        backup="openlitespeed",
        reads=ctx.reads,
    )
    # The allow-list is judged on the connection's address: OLS's default (useIpInProxyHeader 2)
    # takes X-Forwarded-For from addresses it trusts, which a local process could forge.
    server = edits.directives_file(
        name=f"OpenLiteSpeed: useIpInProxyHeader 0 in {platform.ols_server_conf}",
        paths=[platform.ols_server_conf],
        values=(("useIpInProxyHeader", ("0",)),),
        backup="openlitespeed",
        reads=ctx.reads,
    )
    return {reload("openlitespeed"): [block, server]}


def _nginx(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    # nginx runs as httpd_t, which may not connect to rspamd's port otherwise. OpenLiteSpeed's
    # binary is labelled bin_t (unconfined): it needs no boolean.
    for boolean in platform.selinux_proxy_booleans:
        system.selinux_boolean(name=f"SELinux: {boolean} on (nginx reaches rspamd)", boolean=boolean, reads=ctx.reads)
    system.packages(
        name="nginx installed",
        packages=[platform.nginx_package],
        installer=PACKAGE_INSTALLERS[platform.package_manager],
        reads=ctx.reads,
    )
    own_server = settings.webui_nginx_server
    context = _context(settings)
    locations = files.text_file(
        name=f"nginx: {platform.nginx_locations_file}",
        path=platform.nginx_locations_file,
        content=render(
            "webui/nginx-rspamd.locations.j2",
            **context,
            https_only=context["tls"] or not own_server,
            included_by=platform.nginx_conf_file if own_server else f"your server for {settings.webui_server_name}",
        ),
        backup="nginx",
        reads=ctx.reads,
    )
    if own_server:
        site = files.text_file(
            name=f"nginx: {platform.nginx_conf_file}",
            path=platform.nginx_conf_file,
            content=render("webui/nginx-rspamd.conf.j2", **context, locations=platform.nginx_locations_file),
            backup="nginx",
            reads=ctx.reads,
        )
    else:
        # The admin's own server includes the locations: ours would clash with it.
        site = files.file_absent(
            name=f"nginx: no {platform.nginx_conf_file}", path=platform.nginx_conf_file, backup="nginx", reads=ctx.reads
        )
    return {reload("nginx"): [locations, site]}
