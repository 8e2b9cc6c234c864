"""The seed's anti-spam setup, step by step: run with `pyinfra inventory.py deploy.py`."""

import os
import sys

from pyinfra import host, logger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import settings as settings_module
from operations import activate, clamav, dkim, dns, dovecot, postfix, preflight, redis, repos, resolver, rspamd, webui

# (name in the run's output, step): each step returns the restarts and reloads it may need.
CONFIGURATION_STEPS = (
    ("redis", redis.configure),
    ("clamav", clamav.configure),
    ("resolver", resolver.configure),
    ("rspamd", rspamd.configure),
    ("dkim", dkim.keys),
    ("postfix", postfix.configure),
    ("dovecot", dovecot.configure),
    ("webui", webui.configure),
)

settings = settings_module.from_host_data(host.data)
platform = preflight.check(settings)  # before anything on the host changes
logger.info(f"{host.name}: {platform.title}, domains {', '.join(settings.domains)}")

activate.tools()
repos.install(settings, platform)
pending_marks: dict = {}
for step_name, step in CONFIGURATION_STEPS:
    activate.mark_changes(step_name, step(settings, platform), pending_marks)
activate.services(settings, platform, pending_marks)
dns.report_after_operations(settings, platform)
