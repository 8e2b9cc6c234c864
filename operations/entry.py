"""The project's own commands (deploy.py, backup.py, restore.py, learn.py, dkim_rotate.py,
dns_report.py): each switches on what makes a pyinfra run of this project cheaper, then runs its
step for the host pyinfra hands over.

What it switches on changes pyinfra for the rest of the run, so it is done here, in the commands'
own files, and never by importing the package: an admin's own deploy that calls
``operations.mail_filter.mail_filter`` runs pyinfra as pyinfra ships it. The changes, and what
each saves, are written up for pyinfra in docs/pyinfra-proposals.md.
"""

from __future__ import annotations

import gc

from pyinfra import host

from mailguard import settings as settings_module

from . import pyinfra_costs


def _settings() -> settings_module.Settings:
    pyinfra_costs.install()
    return settings_module.from_host_data(host.data)


def deploy() -> None:
    """deploy.py: the seed's setup (operations/mail_filter.py)."""
    from .mail_filter import steps

    steps(_settings())
    # The plan is whole, and it lives (with all that was imported) until pyinfra exits: frozen, it
    # is no longer walked by the collections while the operations run nor by the several at
    # Python's exit. The price: garbage cycles made before this point stay until exit, and cycles
    # among frozen objects are not finalized at exit; nothing of a run needs that (pyinfra closes
    # its connections, files are closed where they are opened).
    gc.freeze()


def backup() -> None:
    """backup.py: the host's keys, maps, hashes and Redis dump, fetched and checked here."""
    from .backup import backup as run

    run(_settings())


def restore() -> None:
    """restore.py: a backup put onto a host, then the deploy."""
    from .backup import restore as run
    from .mail_filter import steps

    run(_settings(), steps)


def learn() -> None:
    """learn.py: rspamd's Bayes taught from the mail users already have."""
    from .learn import learn as run

    run(_settings())


def rotate() -> None:
    """dkim_rotate.py: one stage of a DKIM key rotation per run."""
    from .dkim import rotate as run
    from .mail_filter import steps

    run(_settings(), steps)


def dns_report() -> None:
    """dns_report.py: the DNS records for the deployed host, and the live check; nothing changes."""
    from . import dkim, dns, preflight
    from .hoststate import current_host

    settings = _settings()
    key_states = dkim.key_states(settings)
    settings = dkim.with_host_selectors(settings, key_states)
    dns.report(settings, preflight.detect_platform(settings), current_host(), key_states)
