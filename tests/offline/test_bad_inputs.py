"""Bad input is refused before any host is contacted: the real `pyinfra` CLI, a host that counts.

Each case runs `pyinfra -y inventory.py deploy.py` with MAIL_HOST pointing at a TCP listener
that records every connection. The deploy must exit non-zero with one line naming what is
wrong, and the listener must have seen no connection at all. The table of cases and their
lines is written to artifacts/bad-inputs.md.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import PASSWORDS

from mailguard import settings

ROOT = Path(__file__).resolve().parents[2]
BASE = {"domains": ["example.com"], "server_ipv4": "203.0.113.25"}

# (what is wrong, settings changes, environment changes, the line it must print)
CASES = [
    (
        "malformed domain",
        {"domains": ["exa mple.com"]},
        {},
        "mailguard: setting domains: has an invalid domain name: 'exa mple.com'",
    ),
    ("no domain", {"domains": []}, {}, "mailguard: setting domains: must be a non-empty list of domain names"),
    (
        "domain twice",
        {"domains": ["example.com", "example.com"]},
        {},
        "mailguard: setting domains: lists a domain twice",
    ),
    (
        "malformed selector",
        {"dkim_selector": "dkim_2024!"},
        {},
        "mailguard: setting dkim_selector: is not a valid DKIM selector",
    ),
    (
        "malformed IPv4",
        {"server_ipv4": "203.0.113.256"},
        {},
        "mailguard: setting server_ipv4: is not an IPv4 address: '203.0.113.256'",
    ),
    (
        "IPv6 given as IPv4",
        {"server_ipv4": "2001:db8::1"},
        {},
        "mailguard: setting server_ipv4: is not an IPv4 address",
    ),
    ("no server address", {"server_ipv4": None}, {}, "mailguard: setting server_ipv4: set server_ipv4 or server_ipv6"),
    (
        "malformed DMARC address",
        {"dmarc_rua": ["postmaster.example.com"]},
        {},
        "mailguard: setting dmarc_rua: has an invalid e-mail address",
    ),
    (
        "unknown DMARC policy",
        {"dmarc_policy": "block"},
        {},
        "mailguard: setting dmarc_policy: must be one of 'none', 'quarantine', 'reject'",
    ),
    (
        "threshold not a number",
        {"add_header_score": "ten"},
        {},
        "mailguard: setting add_header_score: must be a number, got 'ten'",
    ),
    (
        "reject below add_header",
        {"reject_score": 5},
        {},
        "mailguard: setting reject_score: must be above add_header_score and greylist_score",
    ),
    (
        "key size",
        {"dkim_key_bits": 1000},
        {},
        "mailguard: setting dkim_key_bits: must be 1024, 2048, 3072 or 4096, got 1000",
    ),
    (
        "unknown proxy",
        {"webui_proxy": "apache"},
        {},
        "mailguard: setting webui_proxy: must be one of 'none', 'nginx', 'openlitespeed', got 'apache'",
    ),
    (
        "web UI over plain HTTP",
        {"webui_proxy": "nginx", "webui_allow": ["0.0.0.0/0"]},
        {},
        "mailguard: setting webui_allow: 0.0.0.0/0 would send the web UI passwords over plain HTTP",
    ),
    (
        "certificate without key",
        {"webui_tls_certificate": "/etc/ssl/mail.pem"},
        {},
        "mailguard: setting webui_tls_key: set both",
    ),
    (
        "malformed allow-list entry",
        {"webui_allow": ["10.0.0.0/33"]},
        {},
        "mailguard: setting webui_allow: has an invalid IP address or network",
    ),
    (
        "malformed whitelist IP",
        {"whitelist_ip": ["198.51.100.999"]},
        {},
        "mailguard: setting whitelist_ip: has an entry that is not an IP address or network",
    ),
    (
        "snippet outside local.d",
        {"rspamd_snippets": {"../../etc/passwd": "x"}},
        {},
        "mailguard: setting rspamd_snippets: has a file name outside local.d/ or override.d/",
    ),
    (
        "snippet over a managed file",
        {"rspamd_snippets": {"local.d/multimap.conf": "x"}},
        {},
        "mailguard: setting rspamd_snippets: 'local.d/multimap.conf' is a file the deploy manages itself",
    ),
    (
        "snippet over the controller",
        {"rspamd_snippets": {"override.d/worker-controller.inc": "secure_ip = [0.0.0.0/0];"}},
        {},
        "mailguard: setting rspamd_snippets: 'override.d/worker-controller.inc' would override the controller's",
    ),
    ("selector with a newline", {"dkim_selector": "dkim\n"}, {}, "mailguard: setting dkim_selector: is not a valid"),
    ("infinite score", {"add_header_score": float("inf")}, {}, "mailguard: setting add_header_score: must be a finite"),
    ("NaN score", {"greylist_score": float("nan")}, {}, "mailguard: setting greylist_score: must be a finite number"),
    (
        "selector for an unknown domain",
        {"dkim_selectors": {"other.example": "mail"}},
        {},
        "mailguard: setting dkim_selectors: other.example is not one of the domains",
    ),
    (
        "malformed per-domain selector",
        {"dkim_selectors": {"example.com": "bad selector"}},
        {},
        "mailguard: setting dkim_selectors: example.com: is not a valid DKIM selector",
    ),
    ("greylist out of reach", {"greylist_score": 5000}, {}, "mailguard: setting greylist_score: must be below 1000.0"),
    (
        "greylist below tagging",
        {"greylist_score": 5, "add_header_score": 10},
        {},
        "mailguard: setting greylist_score: must be at least add_header_score (10.0)",
    ),
    (
        "certificate path with a space",
        {"webui_tls_certificate": "/etc/ssl/my cert.pem", "webui_tls_key": "/etc/ssl/key.pem"},
        {},
        "mailguard: setting webui_tls_certificate: must be an absolute path",
    ),
    (
        "URL with a quote",
        {"openphish_url": 'https://x.example/feed"'},
        {},
        "mailguard: setting openphish_url: is not an",
    ),
    (
        "domain with a trailing newline",
        {"domains": ["example.com\n"]},
        {},
        "mailguard: setting domains: has an invalid",
    ),
    ("unknown setting", {"spam_level": 5}, {}, "mailguard: setting spam_level: unknown setting"),
    ("DNS port out of range", {"dns_port": 70000}, {}, "mailguard: setting dns_port: must be a port number"),
    (
        "missing password",
        {},
        {"RSPAMD_CONTROLLER_PASSWORD": ""},
        "mailguard: setting RSPAMD_CONTROLLER_PASSWORD: not set",
    ),
    ("short password", {}, {"RSPAMD_ENABLE_PASSWORD": "short"}, "mailguard: setting RSPAMD_ENABLE_PASSWORD: too short"),
    (
        "malformed DQS key",
        {},
        {"SPAMHAUS_DQS_KEY": "Not-A-Key-0123456789abcdefg"},
        "mailguard: setting SPAMHAUS_DQS_KEY: must be the 26 lower-case letters and digits Spamhaus issued",
    ),
    (
        "same two passwords",
        {},
        {"RSPAMD_ENABLE_PASSWORD": PASSWORDS["RSPAMD_CONTROLLER_PASSWORD"]},
        "mailguard: setting RSPAMD_ENABLE_PASSWORD: must differ from RSPAMD_CONTROLLER_PASSWORD",
    ),
    (
        "SSH port not a number",
        {},
        {"MAIL_SSH_PORT": "twenty-two"},
        "mailguard: MAIL_SSH_PORT: not a port number: 'twenty-two'",
    ),
    ("settings file not TOML", None, {}, "mailguard: MAIL_SETTINGS:"),
]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml(data: dict) -> str:
    # TOML has no null: a None value is left out, so its default applies (here: none).
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items() if v is not None)


class CountingHost:
    """A TCP port where an SSH server would be: it only counts who connects."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    host = CountingHost()
    folder = tmp_path_factory.mktemp("bad-inputs")

    def run(index_case):
        index, (label, changes, env_changes, _line) = index_case
        path = folder / f"{index}.toml"
        path.write_text("domains = [\n" if changes is None else toml({**BASE, **changes}))
        env = {
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "MAIL_HOST": "127.0.0.1",
            "MAIL_SSH_PORT": str(host.port),
            "MAIL_SETTINGS": str(path),
            **PASSWORDS,
            **env_changes,
        }
        command = [str(Path(sys.executable).parent / "pyinfra"), "-y", "inventory.py", "deploy.py"]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(run, enumerate(CASES)))
    rows = ["| bad input | the one line it prints | exit | host contacted |", "|---|---|---|---|"]
    for (label, *_), outcome in zip(CASES, outcomes, strict=True):
        lines = [
            line
            for line in outcome.stderr.splitlines()
            if line.startswith("mailguard: ") and "nothing was changed" not in line
        ]
        first = lines[0] if lines else outcome.stderr[-200:]
        contacted = "yes" if host.connections else "no"
        rows.append(f"| {label} | `{first}` | {outcome.returncode} | {contacted} |")
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "bad-inputs.md").write_text("\n".join(rows) + "\n")
    yield dict(zip((c[0] for c in CASES), outcomes, strict=True)), host


@pytest.mark.parametrize("label, changes, env_changes, line", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_the_host_is_never_contacted(results, label, changes, env_changes, line):
    outcomes, host = results
    outcome = outcomes[label]
    assert outcome.returncode != 0
    lines = [x for x in outcome.stderr.splitlines() if x.startswith("mailguard: ") and "nothing was changed" not in x]
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith(line), lines[0]
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert host.connections == 0


def test_valid_settings_do_reach_the_counting_host(results, tmp_path):
    """The control: with nothing wrong, pyinfra connects, and the listener counts it."""
    _outcomes, host = results
    before = host.connections
    path = tmp_path / "ok.toml"
    path.write_text(toml(BASE))
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "MAIL_HOST": "127.0.0.1",
        "MAIL_SSH_PORT": str(host.port),
        "MAIL_SETTINGS": str(path),
        **PASSWORDS,
    }
    outcome = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), "-y", "inventory.py", "deploy.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome.returncode != 0  # it is not an SSH server
    assert host.connections > before
    host.connections = before


def test_the_seeds_own_values_are_valid():
    loaded = settings.load({**BASE, "add_header_score": 10, "greylist_score": 20, "reject_score": None}, PASSWORDS)
    assert (loaded.add_header_score, loaded.greylist_score, loaded.reject_score) == (10.0, 20.0, None)
