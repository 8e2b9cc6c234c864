"""Learn from the mail users already have: `pyinfra -y inventory.py learn.py`.

Where Dovecot runs, each user's junk_folder is learned as spam and as many of their newest INBOX
messages as ham, so that the two classes stay balanced; in batches, each one operation, so that
pyinfra's output shows how far a long run has got. Rerun it at will: rspamd skips every message
it learned before (its learn cache). Needs the deploy first (its learning socket). With -v,
pyinfra shows each batch's counts: learned, skipped (learned before, or too short), failed.
"""

import os
import sys

from pyinfra import host, logger
from pyinfra.api import StringCommand
from pyinfra.operations import server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mailguard import layout, learning
from mailguard import settings as settings_module
from operations import generic, preflight
from operations.facts import Mailboxes
from operations.templating import render

BATCH = 50  # messages per operation

settings = settings_module.from_host_data(host.data)
platform = preflight.check(settings)
why_not = learning.skipped(settings, learning.detect(preflight.profile(settings)))
found = {} if why_not else host.get_fact(Mailboxes, junk=settings.junk_folder, socket=layout.LEARN_SOCKET)
if why_not or not found["socket"]:
    reason = why_not or f"rspamd's learning socket {layout.LEARN_SOCKET} is not there: run deploy.py first"
    logger.warning(f"{host.name}: nothing to learn from: {reason}")
else:
    generic.text_file(
        name=f"Tool: {layout.LEARN_MAILBOX}",
        path=layout.LEARN_MAILBOX,
        content=render("tools/learn-mailbox.sh.j2", layout=layout),
        mode=755,
    )
    for user, (junk, inbox) in sorted(found["users"].items()):
        each = min(junk, inbox)  # balanced: as much ham as spam
        if not each:
            logger.info(f"{host.name}: {user}: {junk} in {settings.junk_folder}, {inbox} in INBOX: nothing to learn")
        for first in range(1, each + 1, BATCH):
            count = min(BATCH, each - first + 1)
            for folder, kind in ((settings.junk_folder, "spam"), ("INBOX", "ham")):
                server.shell(
                    name=f"Learn {user}: {folder} as {kind}, {first}-{first + count - 1} of {each}",
                    commands=[StringCommand(layout.LEARN_MAILBOX, user, folder, kind, str(first), str(count))],
                )
