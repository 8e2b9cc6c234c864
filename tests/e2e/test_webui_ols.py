"""The web UI through a real OpenLiteSpeed (#14), as the seed publishes it: the sandbox image has
OLS serving an admin's site (sandbox/ols.py); the deploy adds its block to that site's vhost."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import ssl
from pathlib import Path

import pytest
from support import browser_login, pyinfra, settings_file

from sandbox import ols
from sandbox.results import changed_operations

pytestmark = pytest.mark.e2e
FORGER = "127.0.0.2"  # a local client outside the allow-list


@pytest.fixture(scope="module")
def proxied(deployed, tmp_path_factory):
    target, env, *_ = deployed
    if os.environ.get("MAIL_HOST") or not target.sh(f"test -x {ols.PREFIX}/bin/openlitespeed && echo yes", check=False):
        pytest.skip("this host has no OpenLiteSpeed (the Debian 13 and unstable sandboxes have)")
    folder = tmp_path_factory.mktemp("ols")
    settings = folder / "settings.toml"
    settings.write_text(
        settings_file().read_text()
        + "\n".join(
            [
                "",
                'webui_proxy = "openlitespeed"',
                f'webui_ols_vhost_conf = "{ols.VHOST_CONF}"',
                f'webui_tls_certificate = "{ols.CERTIFICATE}"',
                f'webui_tls_key = "{ols.KEY}"',
                'webui_allow = ["127.0.0.1/32"]',
                "",
            ]
        )
    )
    proxy_env = {**env, "MAIL_SETTINGS": str(settings)}
    first = pyinfra(proxy_env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    yield target, proxy_env, first
    assert pyinfra(env).returncode == 0  # back to no proxy for the modules after this one


def request(
    path: str,
    password: str | None = None,
    source: str = "127.0.0.1",
    tls: bool = True,
    headers=None,
    body: bytes | None = None,
):
    """(status, headers, body) from OLS's listener (https 8443, or http 8088); a POST with ``body``."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the sandbox's self-signed one
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", ols.HTTPS_PORT, context=context, source_address=(source, 0), timeout=15
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", ols.HTTP_PORT, source_address=(source, 0), timeout=15)
    method = "GET" if body is None else "POST"
    sent = {**({"Password": password} if password else {}), **(headers or {})}
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    return response.status, response.headers, response.read()  # headers by any case: OLS sends "location"


def test_the_block_was_checked_and_reloaded_gracefully_and_a_second_run_changes_nothing(proxied):
    target, proxy_env, first = proxied
    changed = " ".join(changed_operations(first.stdout + first.stderr))
    assert "OpenLiteSpeed: openlitespeed -t (errors), then reload" in changed
    assert target.sh(f"grep -c '^useIpInProxyHeader 0$' {ols.SERVER_CONF}").strip() == "1"
    assert target.sh("systemctl is-active lshttpd").strip() == "active"
    again = pyinfra(proxy_env)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []


def test_the_prefix_is_stripped_so_rspamd_answers_each_password_as_it_may(proxied):
    _target, proxy_env, _ = proxied
    status, _, body = request("/rspamd/stat", proxy_env["RSPAMD_CONTROLLER_PASSWORD"])
    assert status == 200, body  # 404 before: /rspamd/stat reached rspamd as it was
    assert json.loads(body)["read_only"] is True
    status, _, body = request("/rspamd/auth", proxy_env["RSPAMD_ENABLE_PASSWORD"])
    assert status == 200 and json.loads(body)["read_only"] is False
    assert request("/rspamd/stat")[0] in (401, 403)  # rspamd still asks for a password


def test_a_forged_x_forwarded_for_does_not_pass_the_allow_list(proxied):
    _target, proxy_env, _ = proxied
    password = proxy_env["RSPAMD_ENABLE_PASSWORD"]
    status, _, body = request("/rspamd/stat", password, source=FORGER, headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 403 and b"scanned" not in body


def test_a_client_outside_the_allow_list_gets_a_plain_403(proxied):
    """No forged header needed to be refused: the connection's own address decides."""
    _target, proxy_env, _ = proxied
    status, _, body = request("/rspamd/stat", proxy_env["RSPAMD_ENABLE_PASSWORD"], source=FORGER)
    assert status == 403 and b"scanned" not in body


def test_savemap_is_refused_with_the_read_only_password_and_allowed_with_the_enable_one(proxied):
    target, proxy_env, _ = proxied
    read_only, enable = proxy_env["RSPAMD_CONTROLLER_PASSWORD"], proxy_env["RSPAMD_ENABLE_PASSWORD"]
    path = "/etc/rspamd/local.d/maps.d/whitelist_sender_domain.map"
    [map_id] = [str(m["map"]) for m in json.loads(request("/rspamd/maps", read_only)[2]) if m["uri"] == path]
    before = target.sh(f"cat {path}")
    edited = (before + "ols-partner.example.org\n").encode()
    try:
        assert request("/rspamd/savemap", read_only, headers={"Map": map_id}, body=edited)[0] in (401, 403)
        assert target.sh(f"cat {path}") == before
        status, _, body = request("/rspamd/savemap", enable, headers={"Map": map_id}, body=edited)
        assert status == 200, body
        assert target.sh(f"cat {path}") == edited.decode()
    finally:
        request("/rspamd/savemap", enable, headers={"Map": map_id}, body=before.encode())


def test_plain_http_goes_to_https_and_the_slash_is_added(proxied):
    # HTTP_HOST keeps the sandbox's port (8088): on a real server, port 80, it is the bare name.
    status, headers, _ = request("/rspamd/stat", tls=False)
    assert status == 301 and headers["Location"] == f"https://127.0.0.1:{ols.HTTP_PORT}/rspamd/stat", headers
    status, headers, _ = request("/rspamd")
    assert status == 301 and headers["Location"].endswith("/rspamd/"), headers
    assert request("/rspamd/stat")[0] != 301  # over HTTPS: no redirect (it looped before)


def test_the_admins_own_site_and_rewrite_rule_still_work(proxied):
    status, _, body = request("/")
    assert status == 200 and b"The admin's own site" in body
    status, headers, _ = request("/old-page")
    assert status == 301 and headers["Location"].endswith("/index.html")


def test_a_configuration_with_warnings_only_is_not_rolled_back(proxied):
    target, _env, first = proxied
    # The admin's docroot belongs to root, which OLS warns about: -t exits 1 without an error.
    output = target.sh(f"mkdir -p /tmp/lshttpd; {ols.PREFIX}/bin/openlitespeed -t 2>&1; echo exit=$?")
    assert "exit=1" in output and "[WARN]" in output and "[ERROR]" not in output, output
    said = first.stdout + first.stderr
    assert "configuration check failed" not in said  # it was rolled back before: -t's exit 1 was a failure
    assert target.sh(f"grep -c 'BEGIN mailguard' {ols.VHOST_CONF}").strip() == "1"


BROKEN = "\ncontext /broken/ {\n  type proxy\n  handler nosuchapp\n}\n"  # the admin's own error


def test_a_configuration_error_is_rolled_back_while_openlitespeed_keeps_serving(proxied, tmp_path):
    """An error in the admin's part of the vhost ([ERROR] from openlitespeed -t) when the deploy
    changes its block: the deploy's change is put back, OLS is not reloaded and serves on."""
    target, proxy_env, _ = proxied
    settings = tmp_path / "settings.toml"
    block_before = target.sh(f"sed -n '/BEGIN mailguard/,/END mailguard/p' {ols.VHOST_CONF}")
    target.sh(f"printf '%s' {shlex.quote(BROKEN)} >> {ols.VHOST_CONF}")
    try:
        settings.write_text(
            Path(proxy_env["MAIL_SETTINGS"])
            .read_text()
            .replace('webui_allow = ["127.0.0.1/32"]', 'webui_allow = ["127.0.0.1/32", "127.0.0.3/32"]')
        )
        failed = pyinfra({**proxy_env, "MAIL_SETTINGS": str(settings)})
        assert failed.returncode != 0, (failed.stdout + failed.stderr)[-3000:]
        assert "Can not find handler" in failed.stdout + failed.stderr  # the checker's own words
        assert target.sh(f"sed -n '/BEGIN mailguard/,/END mailguard/p' {ols.VHOST_CONF}") == block_before
        assert target.sh(f"grep -c 'context /broken/' {ols.VHOST_CONF}").strip() == "1"  # the admin's, kept
        status, _, body = request("/")
        assert status == 200 and b"The admin's own site" in body  # still serving
        assert request("/rspamd/stat", proxy_env["RSPAMD_CONTROLLER_PASSWORD"])[0] == 200
    finally:
        target.sh(f"sed -i '/^context \\/broken\\/ {{$/,/^}}$/d' {ols.VHOST_CONF}")
    again = pyinfra(proxy_env)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []


def test_a_browser_logs_in_through_openlitespeed(proxied):
    _target, proxy_env, _ = proxied
    url = f"https://127.0.0.1:{ols.HTTPS_PORT}/rspamd"  # no slash: OLS adds it
    widgets = browser_login(url, url + "/", proxy_env["RSPAMD_ENABLE_PASSWORD"], "webui-openlitespeed.png")
    assert "scanned" in widgets.lower(), widgets
