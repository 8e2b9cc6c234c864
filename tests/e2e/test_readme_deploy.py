"""The README's first command, `./run deploy`, against the sandbox as `./run sandbox up` boots it:
its DNS is the sandbox's offline answers (no internet, no NSD), and its verdict sends real mail."""

from __future__ import annotations

import os
import subprocess
import sys

import dnsworld
import pytest
from support import ROOT

from sandbox import host as sandbox

pytestmark = pytest.mark.e2e


def _dns_world(target, text: str) -> None:
    target.sh(f"cat > {sandbox.DNS_WORLD_CONF} <<'EOF'\n{text}EOF\nsystemctl restart unbound")


@pytest.mark.skipif(bool(os.environ.get("MAIL_HOST")), reason="the README's deploy runs against the sandbox")
def test_run_deploy_passes_its_verdict_with_the_sandboxs_offline_dns(deployed):
    target, *_ = deployed
    _dns_world(target, sandbox.OFFLINE_DNS)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "sandbox.cli", "deploy"],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("MAIL_")},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        _dns_world(target, dnsworld.unbound_stubs())
    verdict = result.stdout[result.stdout.find("--> Verdict") :]
    assert result.returncode == 0, verdict or result.stderr[-2000:]
    assert verdict.count("PASS") == 3, verdict
