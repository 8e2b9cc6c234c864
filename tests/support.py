"""Test support shared by every suite: paths, settings, the pyinfra CLI, mail and the controller.

Fixtures live in each suite's conftest.py; the helpers they and the tests call live here.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailguard import layout, platforms, sentinel
from sandbox import probes

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
EXTERNAL = probes.EXTERNAL_CLIENT
TIMINGS: dict[str, float | int] = {}  # seconds, or a count
FLEET_GREYLIST_SECONDS = 5  # the greylisting delay of the several-host tests (rspamd's default is 5 minutes)

# Settings and passwords of the offline tests.
PASSWORDS = {"RSPAMD_CONTROLLER_PASSWORD": "read-only-Pa55word", "RSPAMD_ENABLE_PASSWORD": "enable-Pa55word-x"}
SETTINGS = {
    "domains": ["example.com"],
    "server_ipv4": "203.0.113.25",
    "blacklist_sender_email": ["spam@bad.example.net"],
}


def settings_file() -> Path:
    return Path(os.environ.get("MAIL_SETTINGS") or ROOT / "sandbox" / "settings.toml")


def pyinfra_command(*args: str, deploy: str = "deploy.py", yes: bool = True) -> list[str]:
    """The real pyinfra CLI, run from the project's root with its inventory."""
    return [PYINFRA, *(["-y"] if yes else []), "inventory.py", deploy, *args]


def pyinfra(
    env: dict, *args: str, deploy: str = "deploy.py", yes: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    return subprocess.run(
        pyinfra_command(*args, deploy=deploy, yes=yes),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def send(target, mail_from, rcpt="bob@example.com", client_ip=EXTERNAL, helo=probes.CLIENT_HELO, **kwargs):
    msg, token = probes.message(mail_from, rcpt, **kwargs)
    return probes.send(target, msg, token, client_ip=client_ip, helo=helo)


def host_platform(target) -> platforms.Platform:
    release = dict(line.split("=", 1) for line in target.sh("cat /etc/os-release").splitlines() if "=" in line)
    return platforms.for_os_release({k: v.strip('"') for k, v in release.items()})


def controller(
    path: str, password: str | None, data: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    """(HTTP status, body) of a request to rspamd's controller on loopback, as the web UI makes it."""
    url = f"http://{layout.CONTROLLER_ADDRESS}{path}"
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    for name, value in {**({"Password": password} if password else {}), **(headers or {})}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def public_key_b64(private_key_pem: bytes) -> str:
    """A DKIM record's p= value computed here (the deploy asks the host's openssl instead)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def active_values(text: str, key: str) -> list[str]:
    """The values of a "Directive value" file's active ``key`` lines."""
    values = []
    for line in text.splitlines():
        parts = line.split(None, 1)
        if parts and not line.lstrip().startswith("#") and parts[0] == key:
            values.append(parts[1].strip() if len(parts) > 1 else "")
    return values


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def browser_login(url: str, landed: str, password: str, screenshot: str, args: tuple[str, ...] = ()) -> str:
    """Debian's Chromium, headless through Playwright: open ``url``, check it lands on ``landed``,
    log in to rspamd's web UI with ``password``, screenshot to artifacts/; the stat widgets' text."""
    import pytest

    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    shot = ROOT / "artifacts" / screenshot
    shot.parent.mkdir(exist_ok=True)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", *args]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            page.goto(url)
            assert page.url == landed, page.url
            page.fill("#connectPassword", password)
            page.click("#connectButton")
            page.wait_for_selector("#statWidgets", state="visible", timeout=30000)
            page.wait_for_selector("#navBar:not(.d-none)", timeout=10000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shot), full_page=False)
            widgets = page.inner_text("#statWidgets")
        finally:
            browser.close()
    assert shot.stat().st_size > 10000
    return widgets


def replication(target) -> dict[str, str]:
    """The host's Redis's INFO replication, as a dict."""
    text = target.sh(f"{probes.REDIS_CLI} -s /run/redis/redis.sock INFO replication")
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def wait_for_replicas(targets, primary: int, within: float) -> bool:
    """Whether, within ``within`` seconds, every host but mxN (``primary``) is a replica of mxN's
    Redis with its link up (the sentinels make a new host's Redis one, and a returning primary)."""
    from sandbox import fleet as fleet_sandbox  # (the several-host sandbox, for its tests only)

    source = sentinel.loopback(fleet_sandbox.address(primary))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        infos = [replication(t) for n, t in enumerate(targets, 1) if n != primary]
        if all(i.get("master_host") == source and i.get("master_link_status") == "up" for i in infos):
            return True
        time.sleep(0.5)
    return False


def self_signed(server_name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``server_name`` and its key (PEM), for a proxy's HTTPS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key
