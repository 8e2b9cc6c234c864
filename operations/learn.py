"""learn.py: rspamd's Bayes taught from the mail users already have.

Where Dovecot runs, each user's junk_folder is learned as spam and their newest INBOX messages as
ham, HAM_PER_SPAM for each spam message; then INBOX's next messages are checked, and those Bayes
takes for spam are learned as ham too. In batches, each one operation, so that pyinfra's output
shows how far a long run has got, and each batch's counts (learned; skipped as learned before,
already classified so, or too short; failed). Rerun it at will: a message taught
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
# INBOX's next messages, up to this many for each spam message, checked after the bootstrap; those
# Bayes takes for spam are learned as ham: the user's mail that Bayes gets wrong is what it must
# learn (docs/quality.md, "Ham Bayes takes for spam").
CHECKED_PER_SPAM = 3


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
            **rspamd_config.FUZZY_CONTEXT,
        ),
        mode=755,
        reads=ctx.reads,
    )
    mail = {user: counts for user, counts in found["users"].items() if all(counts)}
    logger.info(
        f"{ctx.name}: {sum(min(junk, inbox) for junk, inbox in mail.values())} spam and "
        f"{sum(min(inbox, HAM_PER_SPAM * junk) for junk, inbox in mail.values())} ham to learn from {len(mail)} "
        f"users ({len(found['users']) - len(mail)} with nothing in {settings.junk_folder} or in INBOX)"
    )
    printer = registered(target.state, _PrintCounts)
    for user, (junk, inbox) in sorted(mail.items()):
        for name, argv in batches(user, settings.junk_folder, junk, inbox):
            batch = server.shell(name=name, commands=[Command(layout.LEARN_MAILBOX, *argv)])  # type: ignore[list-item]  # pyinfra types commands as str; it runs a StringCommand
            printer.batches.add(batch._hash)  # the operation's hash (pyinfra has no public name)


def batches(user: str, junk_folder: str, junk: int, inbox: int) -> list[tuple[str, tuple[str, ...]]]:
    """One user's learning, each batch as its operation's name and the learning tool's arguments.

    As much spam as there is ham (a class far ahead skews Bayes) and INBOX's newest messages as
    ham, up to HAM_PER_SPAM times as many, every one learned: the classes interleaved, each round a
    batch of spam and its share of ham. Then INBOX's next messages, up to CHECKED_PER_SPAM times
    the spam, each learned as ham only if Bayes takes it for spam.
    """
    spam, ham = min(junk, inbox), min(inbox, HAM_PER_SPAM * junk)
    planned: list[tuple[str, tuple[str, ...]]] = []
    rounds = -(-spam // BATCH)
    for number in range(rounds):
        for folder, kind, count in ((junk_folder, "spam", spam), ("INBOX", "ham", ham)):
            first = count * number // rounds + 1
            size = count * (number + 1) // rounds - first + 1
            name = f"Learn {user}: {folder} as {kind}, {first}-{first + size - 1} of {count}"
            planned.append((name, (user, folder, kind, str(first), str(size), "all")))
    end = ham + min(inbox - ham, CHECKED_PER_SPAM * spam)
    for first in range(ham + 1, end + 1, BATCH * HAM_PER_SPAM):
        last = min(first + BATCH * HAM_PER_SPAM - 1, end)
        name = f"Learn {user}: INBOX as ham where Bayes takes it for spam, {first}-{last} of {end}"
        planned.append((name, (user, "INBOX", "ham", str(first), str(last - first + 1), "errors")))
    return planned
