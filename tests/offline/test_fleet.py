"""Several MX hosts in one run (issue #19), planned with pyinfra's engine over modelled hosts:
one DKIM key per domain for the group, Redis replication by role, and rspamd's neighbours."""

from __future__ import annotations

import hashlib
import re
import shlex

import pytest
from hostmodel import HostModel, apply, by_name, plan_group
from support import PASSWORDS, SETTINGS

from mailguard import dkim, group_tls, layout, redis_acl, sentinel, settings
from mailguard.targets import TargetError, read_inventory
from operations.dkim import KeyConflict

KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
KEY_OP = "DKIM keys | DKIM: key for example.com (selector dkim)"
REDIS_PASSWORD = {settings.REDIS_PASSWORD_ENV: "group-Redis-pa55word"}
GROUP = {**SETTINGS, "redis_primary": "10.77.0.11"}


def _hosts(*names: str, keys: dict[str, bytes] | None = None) -> dict:
    hosts = {}
    for number, name in enumerate(names, 1):
        model = HostModel.load("debian13", "fresh")
        if name in (keys or {}):
            model.files[KEY] = {"text": keys[name].decode(), "user": "_rspamd", "group": "_rspamd", "mode": 600}
        hosts[name] = (model, {**GROUP, "private_address": f"10.77.0.1{number}"})
    return hosts


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _uploaded_keys(plans: dict) -> dict[str, bytes]:
    return {name: by_name(ops)[KEY_OP].uploads().get(KEY) for name, ops in plans.items()}


def test_three_fresh_hosts_get_one_key_made_once():
    plans = plan_group(_hosts("mx1", "mx2", "mx3"), {**PASSWORDS, **REDIS_PASSWORD})
    keys = _uploaded_keys(plans)
    assert len(set(keys.values())) == 1 and None not in keys.values(), keys.keys()
    assert b"PRIVATE KEY" in keys["mx1"]


def test_a_new_host_gets_the_key_another_host_holds_byte_for_byte():
    held = dkim.generate_private_key_pem(2048)
    hosts = _hosts("mx1", "mx2", "mx3", keys={"mx2": held})
    plans = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    keys = _uploaded_keys(plans)
    assert keys == {"mx1": held, "mx2": None, "mx3": held}
    assert not by_name(plans["mx2"])[KEY_OP].changes  # never replaced where it is
    for name, ops in plans.items():  # once in place, every host holds the same key and a rerun leaves it
        apply(hosts[name][0], ops)
    again = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    assert not any(by_name(ops)[KEY_OP].changes for ops in again.values())


def test_two_hosts_with_different_keys_stop_the_run_in_one_line_before_any_change():
    hosts = _hosts(
        "mx1",
        "mx2",
        "mx3",
        keys={"mx1": dkim.generate_private_key_pem(2048), "mx3": dkim.generate_private_key_pem(2048)},
    )
    with pytest.raises(KeyConflict) as raised:
        plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    line = str(raised.value)
    assert "\n" not in line and "mx1 and mx3 hold different DKIM keys" in line and "nothing was changed" in line


def test_a_key_missing_in_the_run_while_a_host_is_left_out_by_limit_is_refused():
    hosts = _hosts("mx2")
    with pytest.raises(KeyConflict) as raised:
        plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD}, left_out={"mx1": {**GROUP, "private_address": "10.77.0.11"}})
    assert "mx1 (left out by --limit) may hold one" in str(raised.value)


def test_redis_roles_the_primary_s_tunnel_listens_on_its_private_address_replicas_follow_it():
    hosts = _hosts("mx1", "mx2")
    first = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    for name, ops in first.items():  # the packages are in: now their redis.conf is edited
        apply(hosts[name][0], ops)
    plans = {name: first[name] + ops for name, ops in plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD}).items()}
    password = REDIS_PASSWORD[settings.REDIS_PASSWORD_ENV]
    for name, role in (("mx1", "primary"), ("mx2", "replica")):
        # (an operation's name is one of its hosts': each host says its own role)
        auth = next(
            op.uploads()["/etc/redis/mailguard-auth.conf"] for op in first[name] if "Redis: users and" in op.name
        ).decode()
        assert password not in auth and "requirepass" not in auth  # the group's secret never reaches Redis
        for user in (redis_acl.REPLICA, redis_acl.RSPAMD, redis_acl.ADMIN):  # each by its password's SHA-256
            assert (
                f"user {user} reset on #{_sha256(redis_acl.password(password, user))} {redis_acl.RIGHTS[user]}\n"
                in auth
            )
        assert "user default reset off\n" in auth  # rspamd.com's rspamd logs in with its user name
        assert ("replicaof 127.0.0.1 6380" in auth) == (role == "replica")  # through its end of the tunnel
        replica_login = (
            f"masteruser {redis_acl.REPLICA}\nmasterauth {redis_acl.password(password, redis_acl.REPLICA)}\n"
        )
        assert (replica_login in auth) == (role == "replica")
        client = next(op for op in first[name] if "the deploy's own user" in op.name).uploads()[
            layout.REDIS_CLIENT_AUTH
        ]
        assert client.decode() == f"{redis_acl.ADMIN}\n{redis_acl.password(password, redis_acl.ADMIN)}\n"
        conf = next(
            v for op in plans[name] if op.name.startswith("Redis | Redis: unix socket") for v in op.uploads().values()
        )
        conf = conf.decode()
        assert "include /etc/redis/mailguard-auth.conf" in conf and password not in conf
        assert re.search(r"^port 0$", conf, re.M)  # Redis on its socket only: the tunnel takes the group's port
        tunnel = next(op for op in first[name] if op.name.startswith("Redis | Tunnel: ") and "'s end" in op.name)
        stunnel = tunnel.uploads()[layout.TUNNEL_CONF].decode()
        if role == "primary":
            assert "accept = 10.77.0.11:6379\nconnect = /run/redis/redis.sock\n" in stunnel
        else:
            assert "client = yes\naccept = 127.0.0.1:6380\nconnect = 10.77.0.11:6379\n" in stunnel
        assert "verifyPeer = yes" in stunnel and "sslVersionMin = TLSv1.3" in stunnel
        key_op = next(op for op in first[name] if op.name == "Redis | Tunnel: the group's key")
        key = key_op.uploads()[layout.TUNNEL_KEY]
        assert key == group_tls.key_pem(password)  # the same on every host, derived from the group's secret
        rspamd = next(
            v for op in plans[name] if "local.d/redis.conf" in op.name for v in op.uploads().values()
        ).decode()
        write = "/run/redis/redis.sock" if role == "primary" else "127.0.0.1:6380"
        assert f'write_servers = "{write}";' in rspamd and password not in rspamd
        assert (
            f'username = "{redis_acl.RSPAMD}";\npassword = "{redis_acl.password(password, redis_acl.RSPAMD)}";'
            in rspamd
        )
        # The reports' data is in the primary's Redis: only the primary sends them.
        timer = [c for op in first[name] if "DMARC reports: timer" in op.name for c in op.commands]
        assert ("systemctl enable --now rspamd-dmarc-report.timer" in timer) == (role == "primary"), timer


def test_replication_settings_are_checked_before_any_connection(tmp_path):
    with pytest.raises(settings.SettingsError) as raised:
        settings.load({**SETTINGS, "redis_primary": "10.77.0.11"}, dict(PASSWORDS))
    assert raised.value.lines == [
        "private_address: set it with redis_primary (the host's own address on the group's network)",
        f"{settings.REDIS_PASSWORD_ENV}: not set (redis_primary is set: the group's Redis needs a password)",
    ]
    with pytest.raises(settings.SettingsError) as raised:
        settings.load({**GROUP, "private_address": "10.77.0.12"}, {**PASSWORDS, settings.REDIS_PASSWORD_ENV: "short"})
    assert raised.value.lines == [
        f"{settings.REDIS_PASSWORD_ENV}: must be 16 to 128 letters, digits, _ and - "
        "(redis_primary is set: the group's Redis needs a password)"
    ]


FLEET = """
[settings]
domains = ["example.com"]
server_ipv4 = "203.0.113.25"
redis_primary = "10.77.0.11"
webui_proxy = "nginx"

[hosts."mx1"]
settings = { private_address = "10.77.0.11", mail_hostname = "mx1.example.com" }

[hosts."mx2"]
settings = { private_address = "10.77.0.12", mail_hostname = "mx2.example.com" }

[hosts."other"]
settings = { mail_hostname = "other.example.com", redis_primary = "10.77.0.99", private_address = "10.77.0.99" }
"""


HTTPS = 'webui_proxy = "nginx"\nwebui_tls_certificate = "/etc/ssl/mx.pem"\nwebui_tls_key = "/etc/ssl/mx.key"\n'


def test_each_host_of_a_group_lists_the_group_s_web_uis_as_rspamd_neighbours(tmp_path):
    from operations.templating import render

    path = tmp_path / "inventory.toml"
    path.write_text(FLEET.replace('webui_proxy = "nginx"\n', HTTPS))
    hosts = dict(read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})["mail"])
    group = (
        ("mx1.example.com", "https://mx1.example.com:443", "/rspamd/"),
        ("mx2.example.com", "https://mx2.example.com:443", "/rspamd/"),
    )
    assert hosts["mx1"][settings.SETTINGS_KEY].neighbours == group
    assert hosts["mx2"][settings.SETTINGS_KEY].neighbours == group
    assert hosts["other"][settings.SETTINGS_KEY].neighbours == ()  # a group of one
    text = render(
        "rspamd/override.d/options.inc.j2",
        settings=hosts["mx2"][settings.SETTINGS_KEY],
        loopback_networks=(),
        layout=layout,
    )
    assert '"mx1.example.com" { host = "https://mx1.example.com:443"; path = "/rspamd/"; }' in text


def test_a_group_without_its_primary_or_with_one_address_twice_is_one_line_each(tmp_path):
    path = tmp_path / "inventory.toml"
    path.write_text(FLEET.replace('private_address = "10.77.0.11"', 'private_address = "10.77.0.12"'))
    from mailguard.targets import TargetError

    with pytest.raises(TargetError) as raised:
        read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})
    assert raised.value.lines == [
        "host mx2: setting private_address: 10.77.0.12 is mx1's already",
        "host mx1: setting redis_primary: 10.77.0.11 is no host's private_address",
        "host mx2: setting redis_primary: 10.77.0.11 is no host's private_address",
    ]


def test_a_host_whose_redis_holds_data_is_not_made_a_replica_in_one_line():
    from operations.preflight import PreflightError

    hosts = _hosts("mx1", "mx2")
    hosts["mx2"][0].packages.append("redis-server")
    hosts["mx2"][0].redis_keys = 1234  # Bayes and greylisting of a server set up by hand
    with pytest.raises(PreflightError) as raised:
        plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    assert str(raised.value) == (
        "mailguard: mx2: redis_primary: this host's Redis holds 1234 keys (Bayes, greylisting, history) that "
        "becoming a replica of 10.77.0.11 would replace: back them up (backup.py), "
        "stop Redis and move /var/lib/redis/dump.rdb aside, or make this host the primary; nothing was changed"
    )


def test_web_uis_published_over_plain_http_are_no_one_s_neighbours_and_the_run_says_why(tmp_path, caplog):
    """The admin's browser calls each neighbour with the web UI password: never over plain HTTP."""
    hosts = {
        name: (HostModel.load("debian13", "fresh"), loaded)
        for name, loaded in _inventory_hosts(tmp_path).items()  # nginx, no certificate
        if name in ("mx1", "mx2")
    }
    assert [loaded.neighbours for _, loaded in hosts.values()] == [(), ()]
    plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    for name in ("mx1", "mx2"):
        assert (
            f"{name}: the group's web UIs are not listed as each other's neighbours: a browser would send the web UI "
            "password to them over plain HTTP (set webui_tls_certificate and webui_tls_key)"
        ) in caplog.text


def test_a_web_ui_inside_the_admin_s_own_https_server_is_a_neighbour_over_https(tmp_path):
    path = tmp_path / "inventory.toml"
    path.write_text(FLEET.replace('webui_proxy = "nginx"\n', 'webui_proxy = "nginx"\nwebui_nginx_server = false\n'))
    hosts = dict(read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})["mail"])
    assert hosts["mx1"][settings.SETTINGS_KEY].neighbours[1] == (
        "mx2.example.com",
        "https://mx2.example.com:443",
        "/rspamd/",
    )


def test_a_group_without_a_web_ui_proxy_writes_no_neighbours(tmp_path):
    """A web UI on loopback only cannot be reached from another host: no neighbours {} to point at it."""
    from operations.templating import render

    path = tmp_path / "inventory.toml"
    path.write_text(FLEET.replace('webui_proxy = "nginx"\n', ""))
    hosts = dict(read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})["mail"])
    assert [hosts[name][settings.SETTINGS_KEY].neighbours for name in ("mx1", "mx2")] == [(), ()]
    text = render(
        "rspamd/override.d/options.inc.j2",
        settings=hosts["mx2"][settings.SETTINGS_KEY],
        loopback_networks=(),
        layout=layout,
    )
    assert "neighbours" not in text


def test_a_group_on_public_addresses_is_accepted_as_its_traffic_is_encrypted_and_fenced():
    for address in ("133.125.40.8", "10.77.0.12", "192.168.5.2", "100.64.0.2", "fd00::2"):
        loaded = settings.load({**GROUP, "private_address": address}, {**PASSWORDS, **REDIS_PASSWORD})
        assert loaded.private_address == address


def _inventory_hosts(tmp_path, text: str = FLEET) -> dict:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return {
        name: data[settings.SETTINGS_KEY]
        for name, data in read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})["mail"]
    }


def test_each_host_of_a_group_fences_the_redis_port_to_the_group_s_addresses(tmp_path):
    loaded = _inventory_hosts(tmp_path)
    assert loaded["mx1"].group_addresses == loaded["mx2"].group_addresses == ("10.77.0.11", "10.77.0.12")
    assert loaded["other"].group_addresses == ("10.77.0.99",)
    hosts = {name: (HostModel.load("debian13", "fresh"), loaded[name]) for name in ("mx1", "mx2")}
    plans = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    for name, ops in plans.items():
        named = by_name(ops)
        rules = named["Redis | Fence: Redis port 6379 for 10.77.0.11, 10.77.0.12 only"].uploads()[layout.FENCE_RULES]
        text = rules.decode()
        assert "ip saddr { 10.77.0.11, 10.77.0.12 } tcp dport 6379 accept" in text, name
        assert text.index("accept") < text.index("tcp dport 6379 reject with tcp reset")
        assert "delete table inet mailguard_fence" in text  # replaced whole, alone: the admin's tables untouched
        unit = named["Redis | Fence: mailguard-fence.service"].uploads()[f"/etc/systemd/system/{layout.FENCE_UNIT}"]
        assert b"ExecReload=/usr/sbin/nft --file /etc/mailguard-fence.nft" in unit
        started = [str(c) for op in ops if op.name == "Redis | Fence: in force, and at boot" for c in op.commands]
        assert started == [f"systemctl enable --now {layout.FENCE_UNIT}"], started
        installs = [str(c) for op in ops if "Install rspamd" in op.name for c in op.commands]
        assert any("nftables" in c for c in installs), installs
    for name, ops in plans.items():
        apply(hosts[name][0], ops)
    for ops in plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD}).values():
        assert not [op.name for op in ops if "Fence" in op.name and op.changes]


def test_a_group_member_deployed_alone_is_not_fenced_and_is_told_why(caplog):
    hosts = _hosts("mx2")  # raw settings, as a one-host target gives them: the group's hosts are unknown
    plans = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    assert not [op.name for op in plans["mx2"] if "Fence" in op.name]
    assert "mx2: Redis port 6379: not fenced (the group's hosts are known only when one inventory, " in caplog.text


def test_an_rspamd_without_a_user_name_logs_in_as_redis_s_default_user_with_rspamd_s_rights_only():
    """Debian 12's own rspamd (3.4) sends no Redis user name: the default user is rspamd's there."""
    hosts = {
        "mx1": (
            HostModel.load("debian12", "fresh"),
            {**GROUP, "private_address": "10.77.0.11", "rspamd_source": "distro"},
        )
    }
    first = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    apply(hosts["mx1"][0], first["mx1"])
    ops = first["mx1"] + plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})["mx1"]
    auth = next(op.uploads()[layout.REDIS_AUTH_CONF] for op in ops if "Redis: users and" in op.name).decode()
    secret = REDIS_PASSWORD[settings.REDIS_PASSWORD_ENV]
    rspamd_hash = _sha256(redis_acl.password(secret, redis_acl.RSPAMD))
    assert f"user default reset on #{rspamd_hash} {redis_acl.RIGHTS[redis_acl.RSPAMD]}\n" in auth
    rspamd = next(v for op in ops if "local.d/redis.conf" in op.name for v in op.uploads().values()).decode()
    assert "username" not in rspamd and f'password = "{redis_acl.password(secret, redis_acl.RSPAMD)}";' in rspamd


def test_no_redis_user_may_run_an_administrative_command():
    """Except the sentinels': what Redis's Sentinel documentation lists (a REPLICAOF, and a CONFIG
    REWRITE that fails on the group's read-only redis.conf); never CONFIG GET or SET."""
    sentinels_own = {"+slaveof", "+replicaof", "+config|rewrite", "+client|kill", "+script|kill"}
    assert sentinels_own <= set(redis_acl.RIGHTS[redis_acl.SENTINEL].split())
    for user, rights in redis_acl.RIGHTS.items():
        granted = [r for r in rights.split() if user != redis_acl.SENTINEL or r not in sentinels_own]
        assert "+@all" not in granted or {"-@admin", "-@dangerous"} <= set(granted), user
        assert not {"+config", "+module", "+debug", "+acl", "+@admin", "+@dangerous"} & set(granted), user


# --- a group of three or more: the sentinels choose the primary (mailguard/sentinel.py) ---

THREE = FLEET.replace(
    '[hosts."other"]',
    '[hosts."mx3"]\nsettings = { private_address = "10.77.0.13", mail_hostname = "mx3.example.com" }\n\n'
    '[hosts."other"]',
)
MEMBERS = ("10.77.0.11", "10.77.0.12", "10.77.0.13")


def test_every_host_has_its_own_group_loopback_address_the_same_wherever_it_is_computed():
    addresses = [sentinel.loopback(a) for a in MEMBERS]
    assert len(set(addresses)) == 3 and addresses == [sentinel.loopback(a) for a in MEMBERS]
    for address in addresses + [sentinel.loopback("fd00::2"), sentinel.loopback("133.125.40.8")]:
        parts = [int(p) for p in address.split(".")]
        assert parts[0] == 127 and parts[1] != 0 and parts[3] not in (0, 255), address
    assert sentinel.quorum(3) == 2 and sentinel.quorum(4) == 3 and sentinel.quorum(5) == 3


def test_two_addresses_that_would_share_a_loopback_address_are_refused_before_any_connection(tmp_path):
    seen: dict[str, str] = {}
    for n in range(1 << 16):  # a birthday pair among 10.0.x.y (one in 16 million per pair)
        address = f"10.0.{n >> 8}.{n & 255}"
        clash = seen.setdefault(sentinel.loopback(address), address)
        if clash != address:
            break
    assert sentinel.clashes([clash, address]) == [(clash, address)]
    path = tmp_path / "inventory.toml"
    path.write_text(
        THREE.replace("10.77.0.11", clash).replace("10.77.0.12", address).replace("10.77.0.99", "10.77.0.98")
    )
    with pytest.raises(TargetError) as raised:
        read_inventory(path, {**PASSWORDS, **REDIS_PASSWORD})
    assert raised.value.lines == [
        f"host mx2: setting private_address: {address} gets the same group loopback address as mx1's {clash} "
        "(mailguard/sentinel.py); give one of them another address"
    ]


def _three(tmp_path) -> dict:
    loaded = _inventory_hosts(tmp_path, THREE)
    return {name: (HostModel.load("debian13", "fresh"), loaded[name]) for name in ("mx1", "mx2", "mx3")}


def _upload(ops, name_part: str, path: str) -> str:
    return next(op.uploads()[path] for op in ops if name_part in op.name and path in op.uploads()).decode()


def test_a_group_of_three_has_sentinels_and_no_file_says_whose_replica_a_redis_is(tmp_path):
    hosts = _three(tmp_path)
    first = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    for name, ops in first.items():
        apply(hosts[name][0], ops)
    again = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})  # the packages are in: redis.conf is edited
    for name, ops in again.items():
        apply(hosts[name][0], ops)
    third = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    secret = REDIS_PASSWORD[settings.REDIS_PASSWORD_ENV]
    primary = sentinel.loopback("10.77.0.11")
    for number, name in enumerate(("mx1", "mx2", "mx3"), 1):
        ops, here = first[name] + again[name], sentinel.loopback(f"10.77.0.1{number}")
        auth = _upload(ops, "Redis: users and", layout.REDIS_AUTH_CONF)
        assert not re.search(r"^replicaof ", auth, re.M)  # the sentinels say it, at run time
        assert f"replica-announce-ip {here}\nreplica-announce-port 6379\nreplica-read-only yes\n" in auth
        assert f"masteruser {redis_acl.REPLICA}\n" in auth  # any host may become a replica
        sentinel_user = redis_acl.SENTINEL
        assert f"user {sentinel_user} reset on #{_sha256(redis_acl.password(secret, sentinel_user))} " in auth
        conf = _upload(ops, "Redis: unix socket", "/etc/redis/redis.conf")
        assert re.search(rf"^bind {re.escape(here)}$", conf, re.M) and re.search(r"^port 6379$", conf, re.M)
        drop_in = _upload(
            ops,
            "Redis: its configuration read-only",
            f"/etc/systemd/system/redis-server.service.d/{layout.REDIS_DROP_IN}",
        )
        assert "ReadOnlyPaths=-/etc/redis/redis.conf\n" in drop_in
        seed = _upload(ops, "Sentinel: the starting configuration (quorum 2 of 3)", layout.SENTINEL_SEED)
        assert f"bind {here}\nport 26379\n" in seed and f"sentinel announce-ip {here}\n" in seed
        assert f"sentinel monitor mailguard {primary} 6379 2\n" in seed
        assert (
            seed.count("sentinel known-replica mailguard ") == 2 and f"known-replica mailguard {primary} " not in seed
        )
        assert secret not in seed and "user default reset on nopass -@all +ping " in seed
        installed = [
            str(c)
            for op in first[name]
            if "Sentinel: /var/lib/mailguard-sentinel/sentinel.conf" in op.name
            for c in op.commands
        ]
        assert installed == [f"runuser -u redis -- install -m 600 -- {layout.SENTINEL_SEED} {layout.SENTINEL_CONF}"]
        stunnel = _upload(ops, "Tunnel: every host's ends", layout.TUNNEL_CONF)
        assert f"accept = 10.77.0.1{number}:6379\nconnect = /run/redis/redis.sock\n" in stunnel
        assert f"accept = 10.77.0.1{number}:26379\nconnect = {here}:26379\n" in stunnel
        for peer in sorted(set(MEMBERS) - {f"10.77.0.1{number}"}):
            there = sentinel.loopback(peer)
            assert f"client = yes\naccept = {there}:6379\nconnect = {peer}:6379\n" in stunnel
            assert f"client = yes\naccept = {there}:26379\nconnect = {peer}:26379\n" in stunnel
        rspamd = _upload(ops, "local.d/redis.conf", "/etc/rspamd/local.d/redis.conf")
        assert f'write_servers = "{primary}:6379";\nsentinels = "{here}:26379";\n' in rspamd  # its own sentinel
        rules = _upload(ops, "Fence: Redis port 6379 and Sentinel port 26379", layout.FENCE_RULES)
        assert (
            "tcp dport { 6379, 26379 } accept" in rules and "tcp dport { 6379, 26379 } reject with tcp reset" in rules
        )
        report = _upload(
            ops, "DMARC reports: rspamd-dmarc-report.service", "/etc/systemd/system/rspamd-dmarc-report.service"
        )
        assert f"ExecCondition={layout.PRIMARY_HERE} {here} 26379 mailguard\n" in report
        timer = [str(c) for op in first[name] if "DMARC reports: timer" in op.name for c in op.commands]
        assert "systemctl enable --now rspamd-dmarc-report.timer" in timer  # every host's: only the primary's goes on
        assert [op.name for op in third[name] if op.changes] == [], name  # a rerun changes nothing


def test_a_group_of_two_is_told_in_one_line_that_it_cannot_have_a_quorum(tmp_path, caplog):
    loaded = _inventory_hosts(tmp_path)
    hosts = {name: (HostModel.load("debian13", "fresh"), loaded[name]) for name in ("mx1", "mx2")}
    plans = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    assert not [op.name for ops in plans.values() for op in ops if op.name.startswith("Redis | Sentinel: the")]
    lines = [r.getMessage() for r in caplog.records if "Sentinel quorum" in r.getMessage()]
    assert lines == [
        "mx1: a group of 2 hosts cannot have a Sentinel quorum (it needs 3): 10.77.0.11 stays the Redis primary; "
        "should it be lost, set redis_primary to another host's private_address and rerun"
    ]


def test_firewalld_admits_the_other_hosts_of_the_group_to_its_ports_where_it_runs(tmp_path):
    """AlmaLinux 9 with firewalld running: it drops what it does not allow, so the group's peers get a
    rich rule for each port the fence admits them to (not verified on a real AlmaLinux host here)."""
    loaded = _inventory_hosts(tmp_path, THREE)
    hosts = {name: (HostModel.load("el9", "installed"), loaded[name]) for name in ("mx1", "mx2", "mx3")}
    for model, _ in hosts.values():
        model.firewalld = ["ssh"]
        model.units["firewalld.service"] = {"running": True, "enabled": True}
    plans = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    name = "Redis | firewalld: the group's hosts admitted to 6379/26379"
    expected = [
        f'--add-rich-rule=rule family="ipv4" source address="{peer}" port port="{port}" protocol="tcp" accept'
        for peer in ("10.77.0.12", "10.77.0.13")
        for port in (6379, 26379)
    ]
    assert by_name(plans["mx1"])[name].commands == [
        "firewall-cmd --permanent " + " ".join(shlex.quote(rule) for rule in expected),
        "firewall-cmd --reload",
    ]
    for host_name, ops in plans.items():
        apply(hosts[host_name][0], ops)
    again = plan_group(hosts, {**PASSWORDS, **REDIS_PASSWORD})
    assert all(by_name(ops)[name].commands == [] for ops in again.values())
