"""Paths a service user can write are hostile: a symbolic link planted there is said once and
left alone, and no command the deploy plans reaches through it (issue #15, item 1)."""

from __future__ import annotations

import logging

import pytest
from hostmodel import HostModel, converge, plan
from support import PASSWORDS, SETTINGS

MAPS = "/etc/rspamd/local.d/maps.d"
KEY = "/var/lib/rspamd/dkim/example.com.dkim.key"
PLANTED = [f"{MAPS}/whitelist_ip.map", f"{MAPS}/blacklist_sender_domain.map", KEY]


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_link_is_said_once_and_no_command_touches_it(caplog, planted):
    model = HostModel.load("debian13", "fresh")
    converge(model, SETTINGS, PASSWORDS)
    model.files[planted] = {"link": "/etc/shadow", "text": "", "user": "_rspamd", "group": "_rspamd", "mode": 777}
    with caplog.at_level(logging.WARNING):
        ops = plan(model, SETTINGS, PASSWORDS)
    said = [r.getMessage() for r in caplog.records if planted in r.getMessage()]
    assert said == [
        f"modelled-host: {planted} is a symbolic link, not a file mailguard wrote: left alone, never followed"
    ]
    touching = [c for op in ops for c in op.commands if planted in str(c)]
    assert touching == []


def test_every_file_goes_in_place_by_a_new_file_and_a_rename_and_owner_and_mode_through_a_descriptor():
    model = HostModel.load("debian13", "fresh")
    commands = [c for op in plan(model, SETTINGS, PASSWORDS) for c in op.commands if isinstance(c, str)]
    # no chown or chmod by a path: owner and mode are set through a descriptor (files.sh metadata),
    # or on the root-only staged copy before it is copied beside its path and renamed (files.sh place)
    assert not [c for c in commands if c.argv[0] in ("chown", "chmod", "cp", "mv", "ln")]
    staged = [c.args[2] for c in commands if c.script == "files" and c.args[0] == "stage"]
    placed = [c for c in commands if c.script == "files" and c.args[0] == "place"]
    assert staged and all(path.startswith("/var/lib/mailguard/staging/") for path in staged)
    assert [c.args[1] for c in placed if c.args[1] not in staged] == []  # only a staged file is placed
    assert [c for c in commands if c.script == "files" and c.args[0] == "metadata"]
