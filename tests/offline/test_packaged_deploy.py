"""The packaged deploy (``from operations.mail_filter import mail_filter``) in an admin's own deploy file,
planned by pyinfra's engine: the same operations as deploy.py, under the name "mailguard"."""

from __future__ import annotations

import pytest
from hostmodel import HostModel, plan
from support import PASSWORDS, SETTINGS

from operations.mail_filter import SettingsInvalid

ADMINS_DEPLOY = """
from pyinfra.operations import server

from operations.mail_filter import mail_filter

server.shell(name="The admin's own step before", commands=["true"])
mail_filter()
"""


def test_an_admins_deploy_plans_what_deploy_py_plans(tmp_path):
    path = tmp_path / "site.py"
    path.write_text(ADMINS_DEPLOY)
    ours = plan(HostModel.load("el9", "fresh"), SETTINGS, PASSWORDS)
    theirs = plan(HostModel.load("el9", "fresh"), SETTINGS, PASSWORDS, deploy_file=path)
    assert theirs[0].name == "The admin's own step before"
    packaged = theirs[1:]
    assert all(op.name.startswith("mailguard | ") for op in packaged)
    assert [op.name.removeprefix("mailguard | ") for op in packaged] == [op.name for op in ours]
    for mine, packaged_op in zip(ours, packaged, strict=True):
        assert packaged_op.uploads().keys() == mine.uploads().keys()
        assert len(packaged_op.commands) == len(mine.commands)


def test_bad_settings_in_host_data_are_one_line_before_anything_is_read(tmp_path):
    path = tmp_path / "site.py"
    path.write_text("from operations.mail_filter import mail_filter\nmail_filter()\n")
    model = HostModel.load("el9", "fresh")
    with pytest.raises(SettingsInvalid) as raised:
        plan(model, {**SETTINGS, "dkim_key_bits": 1000, "colour": "red"}, PASSWORDS, deploy_file=path)
    assert str(raised.value) == (
        "mailguard: modelled-host: setting colour: unknown setting; "
        "setting dkim_key_bits: must be 1024, 2048, 3072 or 4096, got 1000; nothing was changed"
    )
    assert model.asked == []
