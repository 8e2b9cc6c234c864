"""Several hosts in one inventory (MAIL_INVENTORY): layers of settings, groups, --limit, and one
line per problem in any host, before pyinfra connects to anything."""

from __future__ import annotations

import re
import subprocess

import pytest
from support import PASSWORDS, PYINFRA, ROOT, SETTINGS

from mailguard import settings
from mailguard.targets import ALL_HOSTS, TargetError, read_inventory

TWO_MX = """
[settings]
domains = ["example.com"]
server_ipv4 = "203.0.113.25"
dkim_key_bits = 3072

[groups.mx.settings]
resolver = "system"
dkim_key_bits = 4096

[hosts."mx1.example.com"]
groups = ["mx"]

[hosts."mx2.example.com"]
groups = ["mx", "backup"]
ssh_port = 2222
settings = { server_ipv4 = "203.0.113.26", mail_hostname = "mx2.example.com" }

[hosts."lists.example.net"]
"""


def inventory(tmp_path, text: str) -> dict:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return read_inventory(path, dict(PASSWORDS))


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(TargetError) as raised:
        inventory(tmp_path, text)
    return raised.value.lines


def test_each_key_comes_from_the_most_specific_layer_that_sets_it(tmp_path):
    groups = inventory(tmp_path, TWO_MX)
    hosts = {name: data[settings.SETTINGS_KEY] for name, data in groups[ALL_HOSTS]}
    mx1, mx2, lists = hosts["mx1.example.com"], hosts["mx2.example.com"], hosts["lists.example.net"]
    assert (mx1.server_ipv4, mx1.dkim_key_bits, mx1.resolver, mx1.mail_hostname) == (
        "203.0.113.25",
        4096,
        "system",
        "mail.example.com",
    )
    assert (mx2.server_ipv4, mx2.dkim_key_bits, mx2.mail_hostname) == ("203.0.113.26", 4096, "mx2.example.com")
    assert lists.dkim_key_bits == 3072 and lists.resolver == settings.load(dict(SETTINGS), PASSWORDS).resolver
    assert dict(groups[ALL_HOSTS])["mx2.example.com"]["ssh_port"] == 2222


def test_groups_are_pyinfra_groups(tmp_path):
    groups = inventory(tmp_path, TWO_MX)
    names = {group: [name for name, _ in hosts] for group, hosts in groups.items()}
    assert names == {
        ALL_HOSTS: ["mx1.example.com", "mx2.example.com", "lists.example.net"],
        "mx": ["mx1.example.com", "mx2.example.com"],
        "backup": ["mx2.example.com"],
    }


def test_every_problem_in_every_host_is_one_line_naming_it(tmp_path):
    lines = problems(
        tmp_path,
        TWO_MX.replace("ssh_port = 2222", 'ssh_port = "2222"\npassword = "x"')
        + '\n[hosts."bad.example.org"]\ngroups = "mx"\nsettings = { dkim_key_bits = 1000, colour = "red" }\n',
    )
    assert lines == [
        "host mx2.example.com: ssh_port must be a int, got '2222'",
        "host mx2.example.com: unknown key 'password' (groups, settings, ssh_hostname, ssh_port, ssh_user, "
        "ssh_key, ssh_known_hosts_file, ssh_strict_host_key_checking)",
        "host bad.example.org: groups must be a list of names (a letter, then letters, digits, _), got 'mx'",
        "host bad.example.org: setting colour: unknown setting",
        "host bad.example.org: setting dkim_key_bits: must be 1024, 2048, 3072 or 4096, got 1000",
    ]


def test_an_empty_or_unreadable_inventory_says_so(tmp_path):
    assert problems(tmp_path, "[settings]\n") == [
        f'MAIL_INVENTORY: {tmp_path / "inventory.toml"} lists no [hosts."<name>"]'
    ]
    assert problems(tmp_path, "[hostz]\n")[0] == "MAIL_INVENTORY: unknown table 'hostz'"
    assert problems(tmp_path, "[hosts\n")[0].startswith("MAIL_INVENTORY: ")


def _cli(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    env = {"PATH": "/usr/bin:/bin", "MAIL_INVENTORY": str(path), **PASSWORDS}
    return subprocess.run(
        [PYINFRA, "inventory.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_limit_by_group_or_host_through_the_real_cli(tmp_path):
    # Every host at a closed port: pyinfra names each host it tries to reach, and reaches none.
    closed = TWO_MX.replace("ssh_port = 2222\n", "")
    for name in ("mx1.example.com", "mx2.example.com", "lists.example.net"):
        closed = closed.replace(f'[hosts."{name}"]\n', f'[hosts."{name}"]\nssh_hostname = "127.0.0.1"\nssh_port = 9\n')
    for limit, expected in (
        ("mx", {"mx1.example.com", "mx2.example.com"}),
        ("backup", {"mx2.example.com"}),
        ("lists.example.net", {"lists.example.net"}),
        ("mail", {"mx1.example.com", "mx2.example.com", "lists.example.net"}),
    ):
        result = _cli(tmp_path, closed, "-y", "--limit", limit, "exec", "--", "true")
        tried = set(re.findall(r"\[([a-z0-9.]+)\]\s+Could not connect", result.stdout + result.stderr))
        assert tried == expected, (limit, result.stderr[-2000:])


def test_a_bad_host_stops_the_run_before_any_connection(tmp_path):
    result = _cli(
        tmp_path, TWO_MX.replace('groups = ["mx"]', 'groups = ["mx"]\nsettings = { domains = [] }', 1), "deploy.py"
    )
    assert result.returncode == 2
    assert "mailguard: host mx1.example.com: setting domains: " in result.stderr
    assert result.stderr.strip().endswith("mailguard: nothing was changed: fix the inventory above first")
    assert "Connecting" not in result.stdout + result.stderr


def test_a_group_may_be_named_like_anything_in_inventory_py_and_mail_lists_a_host_once(tmp_path):
    text = TWO_MX.replace(
        '[hosts."lists.example.net"]\n', '[hosts."lists.example.net"]\ngroups = ["mail", "settings"]\n'
    )
    assert [name for name, _ in inventory(tmp_path, text)[ALL_HOSTS]].count("lists.example.net") == 1
    closed = text.replace("ssh_port = 2222\n", "")
    for name in ("mx1.example.com", "mx2.example.com", "lists.example.net"):
        closed = closed.replace(f'[hosts."{name}"]\n', f'[hosts."{name}"]\nssh_hostname = "127.0.0.1"\nssh_port = 9\n')
    result = _cli(tmp_path, closed, "-y", "--limit", "settings", "exec", "--", "true")
    tried = set(re.findall(r"\[([a-z0-9.]+)\]\s+Could not connect", result.stdout + result.stderr))
    assert tried == {"lists.example.net"}, result.stderr[-2000:]
