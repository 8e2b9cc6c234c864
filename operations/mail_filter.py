"""The whole deploy, step by step: what `pyinfra inventory.py deploy.py` runs, and the packaged
``mail_filter`` for an admin's own pyinfra deploy (``from operations.mail_filter import mail_filter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from mailguard import settings as settings_module
from mailguard.settings import Settings

from . import activate, clamav, dkim, dns, dovecot, hoststate, postfix, preflight, redis, repos, resolver, rspamd, webui

# (name in the run's output, step): each step returns the restarts and reloads it may need.
CONFIGURATION_STEPS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("redis", redis.configure),
    ("clamav", clamav.configure),
    ("resolver", resolver.configure),
    ("rspamd", rspamd.configure),
    ("dkim", dkim.keys),
    ("postfix", postfix.configure),
    ("dovecot", dovecot.configure),
    ("webui", webui.configure),
)


def steps(settings: Settings, before_configuration: Callable[[Settings, Any], None] | None = None) -> None:
    """The deploy. ``before_configuration(settings, platform)``: restore.py's data, once the
    packages are there and before any service is configured."""
    platform = preflight.check(settings)  # before anything on the host changes
    key_states = dkim.key_states(settings)
    settings = dkim.with_host_selectors(settings, key_states)  # a rotation's signing key, never undone
    logger.info(f"{host.name}: {platform.title}, domains {', '.join(settings.domains)}")
    activate.tools()
    # pyinfra types a @deploy function as an operation (its global arguments): mypy misreads these calls.
    repos.install(settings, platform)  # type: ignore[call-arg, arg-type]
    if before_configuration:
        before_configuration(settings, platform)
    pending_marks: dict = {}
    for step_name, step in CONFIGURATION_STEPS:
        activate.mark_changes(step_name, step(settings, platform), pending_marks)
    activate.services(settings, platform, pending_marks)  # type: ignore[call-arg, arg-type]
    dns.report_after_operations(settings, platform, key_states)
    hoststate.read_ahead()  # the plan is whole: what the profile did not answer is asked now
    # (the passwords are checked while that read is on its way)
    rspamd.check_passwords_early(settings, preflight.profile(settings)["pwhashes"])


class SettingsInvalid(PyinfraError):
    pass


@deploy("mailguard", data_defaults={"mail_settings": {}})
def mail_filter(settings: Settings | None = None) -> None:
    """rspamd, ClamAV, Redis, DKIM/ARC/DMARC, the Postfix milter and the rest, as deploy.py does.

    ``settings``: validated settings; by default each host's data ``mail_settings`` (a table of
    the README's settings, checked here before anything on the host changes, every problem one
    line), with the web UI passwords from the environment (RSPAMD_CONTROLLER_PASSWORD,
    RSPAMD_ENABLE_PASSWORD). Its operations are named "mailguard | ...".
    """
    if settings is None:
        try:
            settings = settings_module.from_host_data(host.data)
        except settings_module.SettingsError as error:
            lines = "; ".join(f"setting {line}" for line in error.lines)
            raise SettingsInvalid(f"mailguard: {host.name}: {lines}; nothing was changed") from None
    steps(settings)
