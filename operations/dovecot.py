"""Learning from what users do, where Dovecot runs: spam filed into the Junk folder, and Bayes
taught by the moves into and out of it (IMAPSieve).

Dovecot is detected (preflight's profile), never installed; only its Sieve plugin (Pigeonhole) is.
Its configuration is one file of ours in conf.d, in 2.3's syntax or 2.4's. The learning runs as
rspamd's user through a Dovecot script service (templates/dovecot/learn-service.conf.j2).
"""

from __future__ import annotations

from pyinfra import logger
from pyinfra.api import deploy

from mailguard import layout, learning, rspamd_config
from mailguard.learning import TEMPLATES, detect, skipped

from . import files, repos, system
from .activate import Changes, reload
from .context import HostContext
from .templating import render


@deploy("Dovecot: Junk folder and learning")
def configure(ctx: HostContext) -> Changes:
    settings, platform = ctx.settings, ctx.platform
    found = detect(ctx.system)
    why_not = skipped(settings, found)
    if why_not:
        logger.info(f"{ctx.name}: no Junk folder filing or learning from it: {why_not}")
        return {}
    assert found is not None and found.series is not None
    system.packages(
        name="Dovecot: its Sieve plugin (Pigeonhole) installed",
        packages=list(platform.dovecot_sieve_packages),
        installer=repos.PACKAGE_INSTALLERS[platform.package_manager],
        reads=ctx.reads,
    )
    context = {"settings": settings, "platform": platform, "layout": layout, "learning": learning, "dovecot": found}
    context |= rspamd_config.FUZZY_CONTEXT
    changed = [
        system.system_group(name=f"Dovecot: the group {layout.LEARN_GROUP}", group=layout.LEARN_GROUP, reads=ctx.reads),
        files.directory(
            name="Dovecot: global Sieve scripts",
            path=layout.SIEVE_DIR,
            user="root",
            group="root",
            mode=755,
            reads=ctx.reads,
        ),
    ]
    for script in layout.SIEVE_SCRIPTS:
        changed.append(
            files.text_file(
                name=f"Dovecot: {script}.sieve",
                path=f"{layout.SIEVE_DIR}/{script}.sieve",
                content=render(f"dovecot/{script}.sieve.j2", **context),
                backup="dovecot",
                reads=ctx.reads,
            )
        )
    changed.append(
        files.text_file(
            name=f"Dovecot: {layout.LEARN} (what the learning service runs)",
            path=layout.LEARN,
            content=render("tools/learn.sh.j2", **context),
            mode=755,
            reads=ctx.reads,
        )
    )
    changed.append(
        files.text_file(
            name=f"Dovecot {found.series}: {layout.DOVECOT_CONF}",
            path=f"{platform.dovecot_conf_dir}/{layout.DOVECOT_CONF}",
            content=render(TEMPLATES[found.series], **context),
            backup="dovecot",
            reads=ctx.reads,
        )
    )
    return {reload("dovecot"): changed}
