"""Postfix hands every message to rspamd's milter, and accepts mail on port 25 if rspamd is down.

The admin's other milters stay where they are: rspamd's is added once, at the end. For a milter
whose work rspamd now does too, one line says so; the deploy removes nothing.
"""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import layout

from . import postfix_files
from .activate import Changes, reload
from .context import HostContext

# Where users send their own mail (master.cf). Port 25 accepts mail unscanned while rspamd is down,
# as the seed wants; these defer it instead, so no user's mail leaves unsigned under p=quarantine.
SUBMISSION_SERVICES = ("submission/inet", "submissions/inet", "smtps/inet")
SUBMISSION_VALUES = {"milter_default_action": "tempfail"}  # -o on each of those the host defines
MAIN_VALUES = {"milter_default_action": "accept", "milter_protocol": "6"}  # main.cf, set exactly
MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters")  # rspamd's milter added, the admin's kept

# (what a milter's socket names, the milter, what rspamd already does in its place)
REDUNDANT_MILTERS = (
    (("opendkim", ":8891"), "OpenDKIM", "rspamd signs (dkim_signing, arc) and verifies DKIM"),
    (("opendmarc", ":8893"), "OpenDMARC", "rspamd checks DMARC and sends its reports"),
    (("clamav-milter", "clamav"), "clamav-milter", "rspamd has ClamAV scan every message (antivirus)"),
    (("spamass",), "spamass-milter", "rspamd scores spam"),
)


def redundant(milter: str) -> str | None:
    """What to tell the admin about one of their milters, or None."""
    for marks, name, instead in REDUNDANT_MILTERS:
        if any(mark in milter.lower() for mark in marks):
            return f"{name} duplicates what rspamd now does ({instead}); remove it when you are ready"
    return None


@deploy("Postfix milter")
def configure(ctx: HostContext) -> Changes:
    platform = ctx.platform
    milter = postfix_files.postconf(
        name="Postfix: rspamd milter",
        values=MAIN_VALUES,
        members=dict.fromkeys(MILTER_LISTS, layout.POSTFIX_MILTER),
        about=redundant,
        main_cf=platform.postfix_main_cf,
        backup="postfix",
        reads=ctx.reads,
    )
    submission = postfix_files.service_parameters(
        name="Postfix: submission waits while rspamd is down (tempfail)",
        services=SUBMISSION_SERVICES,
        values=SUBMISSION_VALUES,
        master_cf=platform.postfix_master_cf,
        backup="postfix",
        reads=ctx.reads,
    )
    return {reload("postfix"): [milter, submission]}
