"""The booted host every end-to-end module shares: one sandbox and one first deploy per session."""

from __future__ import annotations

import os
import time

import dnsworld
import pytest
from support import TIMINGS, pyinfra, settings_file

from mailguard import settings as settings_module
from mailguard.targets import read_settings_file
from sandbox import host as sandbox
from sandbox import probes


def _skip_reason() -> str | None:
    if os.environ.get("MAIL_HOST"):
        return None
    return sandbox.unsupported_reason()


@pytest.fixture(scope="session")
def dns_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dns-records")


@pytest.fixture(scope="session")
def target(dns_dir, tmp_path_factory):
    reason = _skip_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the end-to-end suite must run in CI: {reason}")
        pytest.skip(reason)
    if os.environ.get("MAIL_HOST"):
        ssh = ["ssh", "-p", os.environ.get("MAIL_SSH_PORT", "22"), "-o", "BatchMode=yes", "-o", "LogLevel=error"]
        if os.environ.get("MAIL_SSH_KEY"):
            ssh += ["-i", os.environ["MAIL_SSH_KEY"]]
        ssh.append(f"{os.environ.get('MAIL_SSH_USER', 'root')}@{os.environ['MAIL_HOST']}")
        env = {**os.environ, "MAIL_DNS_DIR": str(dns_dir)}
        yield probes.Target(ssh=ssh, smtp_host=os.environ.get("MAIL_SMTP_HOST", os.environ["MAIL_HOST"])), env
        return
    sandbox.down()  # a fresh host: the first run starts from Debian + Postfix only
    state = sandbox.up()
    env = {**os.environ, **sandbox.secrets_env(), "MAIL_DNS_DIR": str(dns_dir)}
    mail_target = probes.Target(ssh=sandbox.ssh_command(state, "")[:-1])
    world = dnsworld.start(tmp_path_factory.mktemp("dnsworld"))
    dnsworld.point_host_at_it(mail_target)
    yield mail_target, env
    sandbox.down()
    world.stop()


@pytest.fixture(scope="session")
def deployed(target):
    mail_target, env = target
    started = time.monotonic()
    result = pyinfra(env)
    TIMINGS["first run"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    loaded = settings_module.load(read_settings_file(settings_file()), env)
    return mail_target, env, loaded, result.stdout
