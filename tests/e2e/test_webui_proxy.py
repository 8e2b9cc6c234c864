"""The web UI through nginx on the sandbox, with HTTPS and an allow-list; then a real browser.

The sandbox shares this machine's network namespace. Two addresses are added to ``lo`` for the
duration: 198.51.100.10 (on the allow-list; nginx and the clients use it) and 198.51.100.20 (a
client outside the allow-list). Neither is a loopback address, so nginx and rspamd see them as
any remote client. Runs last (file order) on the host the other modules deployed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from support import browser_login, pyinfra, self_signed, settings_file

from sandbox.results import changed_operations

pytestmark = pytest.mark.e2e
SERVER_NAME = "mail.example.com"
ALLOWED, OUTSIDE = "198.51.100.10", "198.51.100.20"
CERT, KEY = "/etc/ssl/mailguard-test/webui.pem", "/etc/ssl/mailguard-test/webui.key"


@pytest.fixture(scope="module")
def proxied(deployed, tmp_path_factory):
    target, env, *_ = deployed
    if os.environ.get("MAIL_HOST"):
        pytest.skip("the proxy tests add client addresses on the sandbox's own network")
    cert, key = self_signed(SERVER_NAME)
    folder = tmp_path_factory.mktemp("webui")
    (folder / "ca.pem").write_bytes(cert)
    target.sh("mkdir -p /etc/ssl/mailguard-test && chmod 700 /etc/ssl/mailguard-test")
    for path, data in ((CERT, cert), (KEY, key)):
        subprocess.run(target.ssh + [f"cat > {path} && chmod 600 {path}"], input=data, check=True)
    for address in (ALLOWED, OUTSIDE):
        subprocess.run(["ip", "addr", "replace", f"{address}/32", "dev", "lo"], check=True)
    settings = folder / "settings.toml"
    settings.write_text(
        settings_file().read_text()
        + "\n".join(
            [
                "",
                'webui_proxy = "nginx"',
                f'webui_server_name = "{SERVER_NAME}"',
                f'webui_tls_certificate = "{CERT}"',
                f'webui_tls_key = "{KEY}"',
                f'webui_allow = ["127.0.0.1/32", "::1/128", "{ALLOWED}/32"]',
                "",
            ]
        )
    )
    proxy_env = {**env, "MAIL_SETTINGS": str(settings)}
    first = pyinfra(proxy_env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    yield target, proxy_env, folder / "ca.pem", first
    for address in (ALLOWED, OUTSIDE):
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


def request(
    ca,
    path: str,
    password: str | None = None,
    source: str = ALLOWED,
    body: bytes | None = None,
    headers: dict | None = None,
    tls: bool = True,
):
    """(status, headers, body) of a request to nginx on ALLOWED, sent from ``source``."""
    if tls:
        context = ssl.create_default_context(cafile=str(ca))
        connection = http.client.HTTPSConnection(ALLOWED, 443, context=context, source_address=(source, 0), timeout=10)
        connection.sock = context.wrap_socket(
            socket.create_connection((ALLOWED, 443), 10, (source, 0)), server_hostname=SERVER_NAME
        )
    else:
        connection = http.client.HTTPConnection(ALLOWED, 80, source_address=(source, 0), timeout=10)
    all_headers = {"Host": SERVER_NAME, **({"Password": password} if password else {}), **(headers or {})}
    connection.request("POST" if body is not None else "GET", path, body=body, headers=all_headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_nginx_was_checked_and_a_second_run_changes_nothing(proxied):
    target, proxy_env, _ca, first = proxied
    assert "nginx: nginx -t, then reload" in " ".join(changed_operations(first.stdout + first.stderr))
    assert target.sh("systemctl is-active nginx").strip() == "active"
    again = pyinfra(proxy_env)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []


def test_through_the_proxy_each_password_gets_only_what_it_may(proxied):
    target, proxy_env, ca, _ = proxied
    read_only, enable = proxy_env["RSPAMD_CONTROLLER_PASSWORD"], proxy_env["RSPAMD_ENABLE_PASSWORD"]
    status, _, body = request(ca, "/rspamd/stat")
    assert status in (401, 403) and b"scanned" not in body
    assert request(ca, "/rspamd/stat", "not-the-password")[0] in (401, 403)
    status, _, body = request(ca, "/rspamd/stat", read_only)
    assert status == 200 and json.loads(body)["read_only"] is True
    maps = json.loads(request(ca, "/rspamd/maps", read_only)[2])
    path = "/etc/rspamd/local.d/maps.d/whitelist_sender_domain.map"
    [map_id] = [str(m["map"]) for m in maps if m["uri"] == path]
    before = target.sh(f"cat {path}")
    edited = (before + "partner.example.org\n").encode()
    assert request(ca, "/rspamd/savemap", read_only, body=edited, headers={"Map": map_id})[0] in (401, 403)
    assert target.sh(f"cat {path}") == before
    status, _, body = request(ca, "/rspamd/savemap", enable, body=edited, headers={"Map": map_id})
    assert status == 200, body
    assert target.sh(f"cat {path}") == edited.decode()


def test_a_client_outside_the_allow_list_is_refused_even_with_the_password(proxied):
    _target, proxy_env, ca, _ = proxied
    status, _, body = request(ca, "/rspamd/stat", proxy_env["RSPAMD_ENABLE_PASSWORD"], source=OUTSIDE)
    assert status == 403 and b"scanned" not in body


def test_the_controller_cannot_be_reached_except_from_loopback(proxied):
    for address in (ALLOWED, OUTSIDE):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, 11334), timeout=5)
    socket.create_connection(("127.0.0.1", 11334), timeout=5).close()


def test_plain_http_goes_to_https_and_the_slash_is_added(proxied):
    _target, _env, ca, _ = proxied
    status, headers, _ = request(ca, "/rspamd/", tls=False)
    assert status == 301 and headers["Location"] == f"https://{SERVER_NAME}/rspamd/"
    status, headers, _ = request(ca, "/rspamd")
    assert status == 301 and headers["Location"].endswith("/rspamd/")


def test_a_browser_logs_in_with_the_enable_password_and_sees_the_dashboard(proxied):
    _target, proxy_env, _ca, _ = proxied
    widgets = browser_login(
        f"http://{SERVER_NAME}/rspamd",  # plain HTTP without the slash: two redirects
        f"https://{SERVER_NAME}/rspamd/",
        proxy_env["RSPAMD_ENABLE_PASSWORD"],
        "webui-dashboard.png",
        (f"--host-resolver-rules=MAP {SERVER_NAME} {ALLOWED}",),
    )
    assert "scanned" in widgets.lower(), widgets


ADMIN_SERVER = f"""server {{
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name {SERVER_NAME};
    ssl_certificate {CERT};
    ssl_certificate_key {KEY};
    location / {{
        return 200 "webmail\\n";
    }}
    include /etc/nginx/mailguard-rspamd.locations;
}}
"""


def test_an_admins_own_https_server_can_include_the_web_ui_instead(proxied, tmp_path):
    """webui_nginx_server = false: only the locations file; the admin's server includes it."""
    target, proxy_env, ca, _ = proxied
    subprocess.run(target.ssh + ["cat > /etc/nginx/conf.d/admin-mail.conf"], input=ADMIN_SERVER.encode(), check=True)
    settings = tmp_path / "settings.toml"
    settings.write_text(Path(proxy_env["MAIL_SETTINGS"]).read_text() + "webui_nginx_server = false\n")
    include_env = {**proxy_env, "MAIL_SETTINGS": str(settings)}
    result = pyinfra(include_env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert target.sh("ls /etc/nginx/conf.d/mailguard-rspamd.conf 2>/dev/null || echo absent").strip() == "absent"
    assert "conflicting server name" not in target.sh("nginx -t 2>&1")
    assert request(ca, "/")[2] == b"webmail\n"  # the admin's site is untouched
    status, _, body = request(ca, "/rspamd/stat", proxy_env["RSPAMD_CONTROLLER_PASSWORD"])
    assert status == 200 and json.loads(body)["read_only"] is True
    assert request(ca, "/rspamd/stat")[0] in (401, 403)
    assert request(ca, "/rspamd/stat", proxy_env["RSPAMD_ENABLE_PASSWORD"], source=OUTSIDE)[0] == 403
    again = pyinfra(include_env)
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []
