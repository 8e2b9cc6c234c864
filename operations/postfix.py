"""Postfix hands every message to rspamd's milter, and accepts mail if rspamd is down."""

from __future__ import annotations

from pyinfra.api import deploy

from mailguard import layout
from mailguard.platforms import Platform

from . import generic
from .activate import Changes, reload


@deploy("Postfix milter")
def configure(settings, platform: Platform) -> Changes:
    milter = generic.postconf(
        name="Postfix: rspamd milter",
        values={
            "smtpd_milters": layout.POSTFIX_MILTER,
            "non_smtpd_milters": layout.POSTFIX_MILTER,
            "milter_default_action": "accept",
            "milter_protocol": "6",
        },
        main_cf=platform.postfix_main_cf,
        backup="postfix",
    )
    return {reload("postfix"): [milter]}
