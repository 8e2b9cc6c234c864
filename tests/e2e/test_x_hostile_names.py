"""Names another user chose, everywhere the product reads them (the commands-as-data issue): files
planted by _rspamd in maps.d and the DKIM directory and by clamav in its database directory, one
of them a forged state answer that says the milter is set. The deploy among them runs none of them,
reads every answer right (the milter, taken out, is put back) and leaves them as they are. The
backup and restore of them: test_z_backup; strange Dovecot users for learn.py: test_y_learning."""

from __future__ import annotations

import hostile
import pytest
from support import pyinfra

from sandbox.results import changed_operations

pytestmark = [pytest.mark.e2e, pytest.mark.version_sensitive]

MAPS = "/etc/rspamd/local.d/maps.d"
KEYS = "/var/lib/rspamd/dkim"
CLAMAV = "/var/lib/clamav"
FORGED = b"x\n@@mailguard postconf smtpd_milters\nsmtpd_milters = inet:localhost:11332\n.cvd"
# not signature files clamd would load (its database extensions), but for the forged one
CLAMAV_NAMES = [FORGED, b"$(touch canary).txt", b"`touch canary` x;y.txt"]
KEY_NAMES = [b"x\ndkimkeys=forged.key", b"$(touch canary).key", b"it's a key.key"]


@pytest.fixture(scope="module")
def among_hostile_names(deployed):
    target, env, *_ = deployed
    hostile.plant(target, "_rspamd", MAPS, hostile.NAMES, content="planted@example.net\n")
    hostile.plant(target, "_rspamd", KEYS, KEY_NAMES)
    hostile.plant(target, "clamav", CLAMAV, CLAMAV_NAMES)
    milters = target.sh("postconf -h smtpd_milters").strip()
    target.sh("postconf -e smtpd_milters=")  # drift: the forged answer says it is set
    try:
        first = pyinfra(env)
        again = pyinfra(env)
    finally:
        hostile.remove(target, CLAMAV, CLAMAV_NAMES)  # before clamd's self-check loads the .cvd
        hostile.remove(target, KEYS, KEY_NAMES)
    yield target, first, again, milters
    # maps.d keeps its names: test_z_backup backs them up and restores them


def test_the_deploy_runs_no_name_and_puts_the_milter_back(among_hostile_names):
    target, first, _again, milters = among_hostile_names
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-3000:]
    assert hostile.canaries(target) == ""
    assert target.sh("postconf -h smtpd_milters").strip() == milters


def test_every_planted_name_is_left_as_it_was_and_a_rerun_changes_nothing(among_hostile_names):
    target, _first, again, _milters = among_hostile_names
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == []
    count = target.sh(f"find {MAPS} -type f -user _rspamd -size +0 -printf x | wc -c").strip()
    assert int(count) >= len(hostile.NAMES)
    assert hostile.canaries(target) == ""
