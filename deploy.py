"""The seed's anti-spam setup, step by step: run with `pyinfra inventory.py deploy.py`."""

import os
import sys

from pyinfra import host, logger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module  # noqa: E402
from operations import activate, clamav, dkim, dns, postfix, preflight, redis, repos, rspamd, webui  # noqa: E402

settings = settings_module.load(host.data.get("mail_settings"))
platform = preflight.detect_platform(settings)
logger.info(f"{host.name}: {platform.title}, domains {', '.join(settings.domains)}")

preflight.check(settings, platform)
repos.install(settings, platform)
activate.tools()
marks: dict[str, list] = {}
for step in (redis.configure, clamav.configure, rspamd.configure, dkim.keys, postfix.configure, webui.configure):
    step_name = step.__module__.rsplit(".", 1)[-1]
    for key, mark in activate.mark_changes(step_name, step(settings, platform)).items():
        marks.setdefault(key, []).append(mark)
activate.services(settings, platform, marks)
dns.report(settings, platform)
