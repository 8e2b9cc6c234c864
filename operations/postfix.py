"""Postfix hands every message to rspamd's milter, and accepts mail if rspamd is down."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard.platforms import Platform

from . import edits

MILTER = "inet:localhost:11332"


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
