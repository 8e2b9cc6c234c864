"""The web UI's proxy configuration: OpenLiteSpeed's, read back the way OpenLiteSpeed reads it.

OpenLiteSpeed cannot run here. Its configuration is plain text: "key value" lines, blocks
opened by a line ending in "{" and closed by "}", and here-documents ("key <<<END_x" up to a
line "END_x"). ``parse`` reads that structure strictly (unbalanced braces, an unterminated
here-document or a stray line fail), and the tests check what the server would act on.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from hostmodel import HostModel, activation_of, plan
from support import PASSWORDS, SETTINGS

from mailguard import blocks, webui
from mailguard import settings as settings_module
from operations.templating import render
from operations.webui import OLS_BEGIN, OLS_END, _context

STOCK_VHCONF = (Path(__file__).resolve().parents[1] / "hosts" / "openlitespeed" / "vhconf.conf").read_text()
VHCONF = "/usr/local/lsws/conf/vhosts/mail/vhconf.conf"


class Block(dict):
    """A block: its name, its keys (each with every value given), its child blocks in order."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.children = name, []

    def child(self, name: str) -> Block:
        [found] = [c for c in self.children if c.name == name]
        return found


def parse(text: str) -> Block:
    root, stack = Block(""), []
    current = root
    lines = iter(text.splitlines())
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            assert stack, f"line {number}: '}}' closes nothing"
            current = stack.pop()
            continue
        if line.endswith("{"):
            block = Block(" ".join(line[:-1].split()))
            current.children.append(block)
            stack.append(current)
            current = block
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if value.startswith("<<<"):
            end, body = value[3:], []
            for raw_body in lines:
                if raw_body.strip() == end:
                    break
                body.append(raw_body)
            else:
                raise AssertionError(f"line {number}: here-document {end} never ends")
            value = "\n".join(body)
        current.setdefault(key, []).append(value)
    assert not stack, "a block is never closed"
    return root


def rendered_block(**changes) -> str:
    loaded = settings_module.load({**SETTINGS, "webui_proxy": "openlitespeed", **changes}, PASSWORDS)
    return render(
        "webui/openlitespeed-rspamd.conf.j2", allow_regex=webui.allow_regex(loaded.webui_allow), **_context(loaded)
    )


def test_the_block_added_to_a_stock_vhost_reads_as_a_proxy_to_the_controller():
    vhconf = blocks.replace_block(STOCK_VHCONF, OLS_BEGIN, OLS_END, rendered_block())
    tree = parse(vhconf)
    # The admin's own configuration is all still there.
    assert tree["docRoot"] == ["$VH_ROOT/html/"] and tree.child("context /").get("location") == ["$DOC_ROOT/"]
    assert "RewriteRule ^(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]" in tree.child("rewrite")["rules"][0]
    app = tree.child("extprocessor mailguard_rspamd")
    assert app["type"] == ["proxy"] and app["address"] == ["127.0.0.1:11334"]
    ui = tree.child("context /rspamd/")
    assert "type" not in ui  # not a proxy context: that forwards /rspamd/auth as it is
    rules = ui.child("rewrite")
    assert rules["enable"] == ["1"]
    # The last rule proxies to the extprocessor with the context's prefix stripped.
    assert rules["rules"][0].splitlines()[-1] == "RewriteRule ^(.*)$ http://mailguard_rspamd/$1 [P,L]"
    conditions = re.findall(r"^RewriteCond %\{REMOTE_ADDR\} !(\S+)\nRewriteRule \.\* - \[F\]$", rules["rules"][0], re.M)
    assert conditions == [webui.allow_regex(["127.0.0.1/32", "::1/128"])]
    # A "context /rspamd" redirect takes /rspamd/anything by prefix and loops; OLS adds the slash itself.
    assert not [child for child in tree.children if child.name == "context /rspamd"]


def test_the_block_is_replaced_in_place_not_added_twice():
    once = blocks.replace_block(STOCK_VHCONF, OLS_BEGIN, OLS_END, rendered_block())
    assert blocks.replace_block(once, OLS_BEGIN, OLS_END, rendered_block()) == once
    wider = blocks.replace_block(once, OLS_BEGIN, OLS_END, rendered_block(webui_allow=["127.0.0.1/32"]))
    assert wider.count(OLS_BEGIN) == 1 and wider.startswith(STOCK_VHCONF)
    assert len(parse(wider).children) == len(parse(once).children)


def test_with_a_certificate_plain_http_is_sent_to_https():
    block = rendered_block(
        webui_tls_certificate="/etc/ssl/mail.pem",
        webui_tls_key="/etc/ssl/mail.key",
        webui_allow=["127.0.0.1/32", "192.0.2.0/24"],
    )
    rules = parse(block).child("context /rspamd/").child("rewrite")["rules"][0]
    assert "RewriteCond %{HTTPS} !on\nRewriteRule ^(.*)$ https://%{HTTP_HOST}/rspamd/$1 [R=301,L]" in rules
    # The allow-list is checked first: a refused client is never redirected to a login.
    assert rules.index("[F]") < rules.index("[R=301,L]")


@pytest.mark.parametrize(
    "networks, inside, outside",
    [
        (["127.0.0.1/32", "::1"], ["127.0.0.1", "::1"], ["127.0.0.2", "1127.0.0.1", "127.0.0.10", "::11", "0::1"]),
        (["192.0.2.0/24"], ["192.0.2.0", "192.0.2.77", "192.0.2.255"], ["192.0.3.1", "192.0.20.1", "10.192.0.2"]),
        (["10.1.0.0/20"], ["10.1.0.1", "10.1.15.254"], ["10.1.16.1", "10.1.160.1", "10.10.0.1"]),
        (["172.16.0.0/12"], ["172.16.0.1", "172.31.255.255"], ["172.32.0.1", "172.15.255.255"]),
        (["0.0.0.0/0"], ["8.8.8.8", "192.0.2.1"], ["::1"]),
    ],
)
def test_allow_regex_matches_exactly_the_networks(networks, inside, outside):
    pattern = re.compile(webui.allow_regex(networks))
    for address in inside:
        assert pattern.match(address), (address, pattern.pattern)
    for address in outside:
        assert not pattern.match(address), (address, pattern.pattern)
    # Cross-check every address of a small network against ipaddress.
    if networks == ["10.1.0.0/20"]:
        net = ipaddress.ip_network("10.1.0.0/20")
        for third in range(0, 40):
            address = f"10.1.{third}.9"
            assert bool(pattern.match(address)) == (ipaddress.ip_address(address) in net)


def test_openlitespeed_plan_checks_before_a_graceful_reload():
    model = HostModel.load("el9", "installed")
    model.files[VHCONF] = {"text": STOCK_VHCONF, "user": "lsadm", "group": "nobody", "mode": 750}
    server_conf = "/usr/local/lsws/conf/httpd_config.conf"
    model.files[server_conf] = {"text": "serverName mail\n", "user": "lsadm", "group": "lsadm", "mode": 750}
    ops = {
        op.name: op
        for op in plan(model, {**SETTINGS, "webui_proxy": "openlitespeed", "webui_ols_vhost_conf": VHCONF}, PASSWORDS)
    }
    block = ops[f"Web UI | OpenLiteSpeed: web UI in {VHCONF}"]
    assert block.commands[0] == f"/usr/local/sbin/mailguard-stash openlitespeed {VHCONF}"
    assert parse(block.uploads()[VHCONF].decode()).child("context /rspamd/")
    server = ops[f"Web UI | OpenLiteSpeed: useIpInProxyHeader 0 in {server_conf}"]
    assert server.uploads()[server_conf].decode() == "serverName mail\nuseIpInProxyHeader 0\n"
    reload = activation_of(ops["Activate | OpenLiteSpeed: openlitespeed -t (errors), then reload"].commands[0])
    check = (
        "sh",
        "-c",
        "<check-openlitespeed.sh>",
        "mailguard-check-openlitespeed",
        "/usr/local/lsws/bin/openlitespeed",
    )
    assert reload.check == check
    assert (reload.verb, reload.unit) == ("reload-or-restart", "lsws")  # lsws's reload is graceful
    assert (reload.service, reload.rollback) == ("openlitespeed", "/usr/local/sbin/mailguard-rollback")
    assert not [name for name in ops if "SELinux" in name]  # OpenLiteSpeed runs as bin_t: no boolean


def test_openlitespeed_without_its_vhost_is_refused_before_any_change():
    from operations.preflight import PreflightError

    model = HostModel.load("el9", "installed")
    with pytest.raises(PreflightError, match="webui_ols_vhost_conf: .* does not exist on the host"):
        plan(model, {**SETTINGS, "webui_proxy": "openlitespeed", "webui_ols_vhost_conf": VHCONF}, PASSWORDS)
    assert model.asked == ["facts.SystemProfile"]


def test_nginx_include_mode_plans_only_the_locations_which_force_https():
    model = HostModel.load("el9", "installed")
    model.files["/etc/nginx/conf.d/mailguard-rspamd.conf"] = {
        "text": "old server\n",
        "user": "root",
        "group": "root",
        "mode": 644,
    }
    ops = {
        op.name: op
        for op in plan(
            model,
            {**SETTINGS, "webui_proxy": "nginx", "webui_nginx_server": False, "webui_allow": ["192.0.2.0/24"]},
            PASSWORDS,
        )
    }
    locations = (
        ops["Web UI | nginx: /etc/nginx/mailguard-rspamd.locations"]
        .uploads()["/etc/nginx/mailguard-rspamd.locations"]
        .decode()
    )
    assert "allow 192.0.2.0/24;\n    deny all;" in locations
    assert 'if ($https != "on") {\n        return 301 https://$host$request_uri;' in locations
    # Our earlier server block would clash with the admin's: it is kept for a rollback, then removed.
    assert ops["Web UI | nginx: no /etc/nginx/conf.d/mailguard-rspamd.conf"].commands == [
        "/usr/local/sbin/mailguard-stash nginx /etc/nginx/conf.d/mailguard-rspamd.conf",
        "rm -f -- /etc/nginx/conf.d/mailguard-rspamd.conf",
    ]
    # Our own server on plain HTTP serves loopback only, so it need not (and cannot) redirect.
    ops = {
        op.name: op for op in plan(HostModel.load("el9", "installed"), {**SETTINGS, "webui_proxy": "nginx"}, PASSWORDS)
    }
    locations = (
        ops["Web UI | nginx: /etc/nginx/mailguard-rspamd.locations"]
        .uploads()["/etc/nginx/mailguard-rspamd.locations"]
        .decode()
    )
    assert "$https" not in locations
    server = (
        ops["Web UI | nginx: /etc/nginx/conf.d/mailguard-rspamd.conf"]
        .uploads()["/etc/nginx/conf.d/mailguard-rspamd.conf"]
        .decode()
    )
    assert "include /etc/nginx/mailguard-rspamd.locations;" in server and "listen 443" not in server
