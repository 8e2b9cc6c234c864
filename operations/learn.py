"""learn.py: rspamd's Bayes taught from the mail users already have.

Where Dovecot runs, each user's junk_folder is learned as spam and their newest INBOX messages as
ham, HAM_PER_SPAM for each spam message; in batches, each one operation, so that
pyinfra's output shows how far a long run has got, and each batch's counts (learned; skipped as
learned before, already classified so, or too short; failed). Rerun it at will: a message taught
before is skipped (the tool's own record of what it taught, and rspamd's learn cache). Needs the
deploy first (its learning socket).
"""

from __future__ import annotations

from pyinfra import logger
from pyinfra.api import BaseStateCallback
from pyinfra.api.host import Host
from pyinfra.operations import server

from mailguard import layout, learning, rspamd_config
from mailguard.settings import Settings

from . import files, preflight
from .commands import Command
from .facts import Mailboxes
from .run import registered
from .templating import render

BATCH = 50  # spam messages per operation (and their share of ham in the next)
# INBOX's newest messages learned as ham for each message of the junk folder: chosen on the
# quality bench (docs/quality.md, "How much ham learn.py learns").
HAM_PER_SPAM = 3
# Learn every message offered, also one Bayes already classifies so (rspamd's Learn-Type: bulk,
# which its learn_condition lets through): decided on the quality bench (bench/quality.py).
LEARN_BULK = True


class _PrintCounts(BaseStateCallback):
    """Prints what each learning batch said, once it has run (its output, not shown by pyinfra)."""

    def __init__(self) -> None:
        self.batches: set[str] = set()

    def operation_end(self, state, op_hash) -> None:  # type: ignore[override]  # pyinfra calls it on the instance
        if op_hash not in self.batches:
            return
        for target, ops in state.ops.items():
            meta = ops[op_hash].operation_meta if op_hash in ops else None
            if meta is not None and meta.is_complete():
                for line in meta.stdout_lines:
                    print(f"    [{target.name}] {line}")


def learn(target: Host, settings: Settings) -> None:
    """Each Dovecot user's junk_folder as spam and INBOX's newest messages as ham, in batches."""
    ctx = preflight.context(target, settings)
    preflight.check(ctx)
    why_not = learning.skipped(settings, learning.detect(ctx.system))
    found = {} if why_not else target.get_fact(Mailboxes, junk=settings.junk_folder, socket=layout.LEARN_SOCKET)
    if why_not or not found["socket"]:
        reason = why_not or f"rspamd's learning socket {layout.LEARN_SOCKET} is not there: run deploy.py first"
        logger.warning(f"{ctx.name}: nothing to learn from: {reason}")
        return
    for refused in found["refused"]:
        logger.warning(f"{ctx.name}: Dovecot user {refused}: left alone")
    files.text_file(
        name=f"Tool: {layout.LEARN_MAILBOX}",
        path=layout.LEARN_MAILBOX,
        content=render(
            "tools/learn-mailbox.sh.j2",
            layout=layout,
            settings=settings,
            bulk=LEARN_BULK,
            **rspamd_config.FUZZY_CONTEXT,
        ),
        mode=755,
        reads=ctx.reads,
    )
    # per user: as much spam as there is ham (a class far ahead skews Bayes), and INBOX's newest
    # messages as ham, up to HAM_PER_SPAM times as many; a user without both learns nothing
    wanted = {
        user: (min(junk, inbox), min(inbox, HAM_PER_SPAM * junk))
        for user, (junk, inbox) in sorted(found["users"].items())
    }
    each = {user: counts for user, counts in wanted.items() if all(counts)}
    logger.info(
        f"{ctx.name}: {sum(s for s, _ in each.values())} spam and {sum(h for _, h in each.values())} ham "
        f"to learn from {len(each)} users "
        f"({len(wanted) - len(each)} with nothing in {settings.junk_folder} or in INBOX)"
    )
    printer = registered(target.state, _PrintCounts)
    for user, (spam, ham) in each.items():
        # the classes interleaved: each round a batch of spam and its share of ham
        rounds = -(-spam // BATCH)
        for number in range(rounds):
            for folder, kind, count in ((settings.junk_folder, "spam", spam), ("INBOX", "ham", ham)):
                first = count * number // rounds + 1
                size = count * (number + 1) // rounds - first + 1
                batch = server.shell(
                    name=f"Learn {user}: {folder} as {kind}, {first}-{first + size - 1} of {count}",
                    commands=[Command(layout.LEARN_MAILBOX, user, folder, kind, str(first), str(size))],  # type: ignore[list-item]  # pyinfra types commands as str; it runs a StringCommand
                )
                printer.batches.add(batch._hash)  # the operation's hash (pyinfra has no public name)
