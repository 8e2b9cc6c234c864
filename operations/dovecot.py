"""Learning from what users do, where Dovecot runs: spam filed into the Junk folder, and Bayes
taught by the moves into and out of it (IMAPSieve).

Dovecot is detected (preflight's profile), never installed; only its Sieve plugin (Pigeonhole) is.
Its configuration is one file of ours in conf.d, in 2.3's syntax or 2.4's. The learning runs as
rspamd's user through a Dovecot script service (templates/dovecot/learn-service.conf.j2).
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy

from mailguard import layout, learning
from mailguard.learning import TEMPLATES, detect, skipped
from mailguard.platforms import Platform

from . import files, preflight, repos, system
from .activate import Changes, reload
from .templating import render


@deploy("Dovecot: Junk folder and learning")
def configure(settings, platform: Platform) -> Changes:
    found = detect(preflight.profile(settings))
    why_not = skipped(settings, found)
    if why_not:
        logger.info(f"{host.name}: no Junk folder filing or learning from it: {why_not}")
        return {}
    assert found is not None and found.series is not None
    system.packages(
        name="Dovecot: its Sieve plugin (Pigeonhole) installed",
        packages=list(platform.dovecot_sieve_packages),
        installer=repos.PACKAGE_INSTALLERS[platform.package_manager],
    )
    context = {"settings": settings, "platform": platform, "layout": layout, "learning": learning, "dovecot": found}
    changed = [
        system.system_group(name=f"Dovecot: the group {layout.LEARN_GROUP}", group=layout.LEARN_GROUP),
        files.directory(
            name="Dovecot: global Sieve scripts", path=layout.SIEVE_DIR, user="root", group="root", mode=755
        ),
    ]
    for script in layout.SIEVE_SCRIPTS:
        changed.append(
            files.text_file(
                name=f"Dovecot: {script}.sieve",
                path=f"{layout.SIEVE_DIR}/{script}.sieve",
                content=render(f"dovecot/{script}.sieve.j2", **context),
                backup="dovecot",
            )
        )
    changed.append(
        files.text_file(
            name=f"Dovecot: {layout.LEARN} (what the learning service runs)",
            path=layout.LEARN,
            content=render("tools/learn.sh.j2", **context),
            mode=755,
        )
    )
    changed.append(
        files.text_file(
            name=f"Dovecot {found.series}: {layout.DOVECOT_CONF}",
            path=f"{platform.dovecot_conf_dir}/{layout.DOVECOT_CONF}",
            content=render(TEMPLATES[found.series], **context),
            backup="dovecot",
        )
    )
    return {reload("dovecot"): changed}
