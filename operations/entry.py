"""The project's own commands (deploy.py, backup.py, restore.py, learn.py, dkim_rotate.py,
dns_report.py, status.py, remove.py): each switches on what makes a pyinfra run of this project cheaper, then runs its
step for the host pyinfra hands over.

What it switches on changes pyinfra for the rest of the run, so it is done here, in the commands'
own files, and never by importing the package: an admin's own deploy that calls
``operations.mail_filter.mail_filter`` runs pyinfra as pyinfra ships it. The changes, and what
each saves, are written up for pyinfra in docs/pyinfra-proposals.md.
"""

from __future__ import annotations

import datetime
import gc

from pyinfra import host

from mailguard import settings as settings_module

from . import pyinfra_costs
from .run import handed_over


def _settings() -> settings_module.Settings:
    pyinfra_costs.install()
    return settings_module.from_host_data(host.data)


def deploy() -> None:
    """deploy.py: the seed's setup (operations/mail_filter.py)."""
    from .mail_filter import deploy_to

    deploy_to(handed_over(), _settings())
    # The plan is whole, and it lives (with all that was imported) until pyinfra exits: frozen, it
    # is no longer walked by the collections while the operations run nor by the several at
    # Python's exit. The price: garbage cycles made before this point stay until exit, and cycles
    # among frozen objects are not finalized at exit; nothing of a run needs that (pyinfra closes
    # its connections, files are closed where they are opened).
    gc.freeze()


def backup() -> None:
    """backup.py: the host's keys, maps, hashes and Redis dump, fetched and checked here."""
    from . import preflight
    from .backup import backup as run

    run(preflight.context(handed_over(), _settings()))


def restore() -> None:
    """restore.py: a backup put onto a host, then the deploy."""
    from .backup import restore as run

    run(handed_over(), _settings())


def remove() -> None:
    """remove.py: the server given back as it was before the deploy (operations/remove.py)."""
    from .remove import remove as run

    run(handed_over(), _settings())


def learn() -> None:
    """learn.py: rspamd's Bayes taught from the mail users already have."""
    from .learn import learn as run

    run(handed_over(), _settings())


def rotate() -> None:
    """dkim_rotate.py: one stage of a DKIM key rotation per run: each domain's next stage planned
    before anything changes, the ordinary deploy planned with the key states it moves to (its
    configuration check, reload and rollback), then the replaced keys retired and the states recorded."""
    from . import dkim_rotation, mail_filter, preflight

    ctx = preflight.prepare(handed_over(), _settings())
    today = datetime.date.today()
    steps = dkim_rotation.plan_rotation(ctx, today)
    ctx = ctx.with_key_states({step.domain: step.state for step in steps})
    mail_filter.configure(ctx, mail_filter.install(ctx))
    dkim_rotation.record_rotation(ctx, steps, today)


def status(module_name: str) -> None:
    """status.py: one line per check of the deployed host; nothing changes. Run by pyinfra, it
    prints them; run by Python (``python status.py [--json]``) it runs pyinfra on itself and exits
    with the Nagios plugin's code."""
    if module_name == "__main__":
        import sys

        from .status import main

        sys.exit(main(sys.argv[1:]))
    from . import dkim, preflight
    from .status import report

    ctx = preflight.context(handed_over(), _settings())
    report(ctx.with_key_states(dkim.key_states(ctx)))


def dns_report() -> None:
    """dns_report.py: the DNS records for the deployed host, and the live check; nothing changes."""
    from . import dkim, dns, preflight

    ctx = preflight.context(handed_over(), _settings())
    dns.report(ctx.with_key_states(dkim.key_states(ctx)))
