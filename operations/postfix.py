"""Postfix hands every message to rspamd's milter, and accepts mail if rspamd is down."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard.platforms import Platform

from . import edits

MILTER = "inet:localhost:11332"
# While the deploy restarts rspamd, Postfix answers 4xx instead of passing mail unscanned:
# the sending servers retry a minute later. Back to accept (the managed value) once rspamd
# answers; should the run die in between, the next run's postconf puts accept back. A reload
# lets running SMTP sessions finish under the old value: the pause lets them end while rspamd
# still scans (measured: without it, one message per open session passed unscanned).
HOLD_MAIL = "postconf -e milter_default_action=tempfail && postfix reload && sleep 3"
RELEASE_MAIL = "postconf -e milter_default_action=accept && postfix reload"


@deploy("Postfix milter")
def configure(settings, platform: Platform):
    milter = edits.postconf(
        name="Postfix: rspamd milter",
        values={
            "smtpd_milters": MILTER,
            "non_smtpd_milters": MILTER,
            "milter_default_action": "accept",
            "milter_protocol": "6",
        },
        main_cf=platform.postfix_main_cf,
        backup="postfix",
    )
    return {"postfix_reload": [milter]}
