"""Three booted hosts in one inventory (sandbox.fleet), deployed once for every test here."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest
from e2e import dnsworld
from support import FLEET_GREYLIST_SECONDS, TIMINGS, pyinfra, replication, self_signed, wait_for_replicas

from mailguard import settings as settings_module
from sandbox import fleet as fleet_sandbox
from sandbox import host as sandbox
from sandbox import probes

HOSTS = 3
WEBUI_TLS_DIR = "/etc/ssl/mailguard-test"
PRIMARY = fleet_sandbox.address(1)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    reason = sandbox.unsupported_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the several-host sandbox must run in CI: {reason}")
        pytest.skip(reason)
    sandbox.down()  # the single sandbox's services would only take CPU from these three
    fleet_sandbox.down()  # fresh hosts: Debian + Postfix only
    started = time.monotonic()
    data = fleet_sandbox.up(HOSTS)
    TIMINGS["fleet boot"] = time.monotonic() - started
    world = dnsworld.start(tmp_path_factory.mktemp("fleet-dns"), address=fleet_sandbox.CONTROLLER_ADDRESS)
    targets = []
    for n in range(1, HOSTS + 1):
        target = probes.Target(ssh=fleet_sandbox.ssh_command(data, n, "")[:-1], smtp_host=fleet_sandbox.address(n))
        dnsworld.point_host_at_it(target, fleet_sandbox.CONTROLLER_ADDRESS)
        targets.append(target)
    inventory = tmp_path_factory.mktemp("fleet") / "inventory.toml"
    greylist = f'"override.d/greylist.conf" = "timeout = {FLEET_GREYLIST_SECONDS}s;\\n"'
    # each web UI in HTTPS (a certificate of its own host's name): the group lists them as neighbours
    for n, target in enumerate(targets, 1):
        cert, key = self_signed(f"mx{n}.example.com")
        target.sh(f"mkdir -p {WEBUI_TLS_DIR} && chmod 700 {WEBUI_TLS_DIR}")
        for path, pem in ((f"{WEBUI_TLS_DIR}/webui.pem", cert), (f"{WEBUI_TLS_DIR}/webui.key", key)):
            subprocess.run(target.ssh + [f"cat > {path} && chmod 600 {path}"], input=pem, check=True)
    https = f'webui_tls_certificate = "{WEBUI_TLS_DIR}/webui.pem"\nwebui_tls_key = "{WEBUI_TLS_DIR}/webui.key"'
    extra = f'webui_proxy = "nginx"\n{https}\nrspamd_snippets = {{ {greylist} }}'
    inventory.write_text(fleet_sandbox.inventory_text(data, extra))
    env = {
        **os.environ,
        **sandbox.secrets_env(),
        settings_module.REDIS_PASSWORD_ENV: secrets.token_urlsafe(24),
        "MAIL_INVENTORY": str(inventory),
        "MAIL_DNS_DIR": str(tmp_path_factory.mktemp("fleet-records")),
    }
    yield targets, env
    if os.environ.get("MAILGUARD_KEEP_FLEET"):  # a developer's look at the hosts after the tests
        return
    fleet_sandbox.down()
    world.stop()


@pytest.fixture(scope="session")
def deployed_fleet(fleet):
    targets, env = fleet
    started = time.monotonic()
    result = pyinfra(env, "-vvv")  # the most it prints: no secret may be in it
    TIMINGS["fleet first run (3 hosts)"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    started = time.monotonic()
    linked = wait_for_replicas(targets, primary=1, within=90)
    TIMINGS["fleet replicas linked by the sentinels after the first run"] = time.monotonic() - started
    assert linked, [replication(t) for t in targets]
    return targets, env, result.stdout + result.stderr
