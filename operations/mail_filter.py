"""The whole deploy, step by step: what `pyinfra inventory.py deploy.py` runs, and the packaged
``mail_filter`` for an admin's own pyinfra deploy (``from operations.mail_filter import mail_filter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from mailguard import settings as settings_module
from mailguard.settings import Settings

from . import activate, clamav, dkim, dns, dovecot, footprint, postfix, preflight, redis, repos, resolver, rspamd, webui
from .context import HostContext
from .run import handed_over

# (name in the run's output, step(ctx)): each step returns the restarts and reloads it may need.
# The resolver's step runs before the packages are installed (install below).
CONFIGURATION_STEPS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("redis", redis.configure),
    ("clamav", clamav.configure),
    ("rspamd", rspamd.configure),
    ("dkim", dkim.keys),
    ("postfix", postfix.configure),
    ("dovecot", dovecot.configure),
    ("webui", webui.configure),
)


def install(ctx: HostContext) -> dict:
    """The deploy's tools, the repositories and the packages; returns the restarts and reloads
    pending so far (configure's ``pending_marks``)."""
    logger.info(f"{ctx.name}: {ctx.platform.title}, domains {', '.join(ctx.settings.domains)}")
    footprint.record_before(ctx)  # first: it reads the host as the run found it
    # pyinfra types a @deploy function as an operation (its global arguments): mypy misreads these calls.
    activate.tools(ctx.reads)  # type: ignore[call-arg, arg-type]
    pending_marks: dict = {}
    # unbound's hooks masked and its configuration written before its package, which starts it,
    # comes in the main transaction (repos.install)
    activate.mark_changes("resolver", resolver.configure(ctx), pending_marks)  # type: ignore[call-arg, arg-type]
    repos.install(ctx)  # type: ignore[call-arg, arg-type]
    return pending_marks


def configure(ctx: HostContext, pending_marks: dict) -> None:
    """Every service configured, then each restarted or reloaded where its files changed (checked
    first, rolled back on a failed check); the DNS report once the run has ended."""
    for step_name, step in CONFIGURATION_STEPS:
        activate.mark_changes(step_name, step(ctx), pending_marks)
    footprint.record_footprint(ctx)  # every file is planned; kept also when a check fails below
    activate.services(ctx, pending_marks)  # type: ignore[call-arg, arg-type]
    dns.report_after_operations(ctx)
    ctx.reads.read_ahead()  # the plan is whole: what the profile did not answer is asked now
    # (the passwords are checked while that read is on its way)
    rspamd.check_passwords_early(ctx.settings, ctx.system["pwhashes"])


def deploy_to(target: Host, settings: Settings) -> None:
    """The deploy for ``target``: checked before anything on the host changes, then installed and
    configured."""
    ctx = preflight.prepare(target, settings)
    configure(ctx, install(ctx))


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
    deploy_to(handed_over(), settings)
