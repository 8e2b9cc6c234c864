"""remove.py's records (mailguard/footprint.py) and the marker blocks it takes out: read back
strictly, merged run after run, and a block taken out gives the admin's file back as it was."""

from __future__ import annotations

import json

import pytest
from hostmodel import HostModel, apply, by_name, plan
from support import PASSWORDS, SETTINGS

from mailguard import blocks, layout
from mailguard.footprint import Before, Footprint, RecordError, Unit

FOOTPRINT = Footprint(
    whole={"/etc/rspamd/local.d/dmarc.conf": "rspamd", "/usr/local/sbin/mailguard-stash": None},
    edited={"/etc/redis/redis.conf": "redis"},
    blocks={("/usr/local/lsws/conf/vhosts/site/vhconf.conf", "# begin", "# end"): "openlitespeed"},
    maps=("/etc/rspamd/local.d/maps.d/whitelist_ip.map",),
)


def test_the_footprint_and_the_host_before_read_back_what_was_written():
    assert Footprint.from_json(FOOTPRINT.to_json()) == FOOTPRINT
    before = Before(
        units={"rspamd": Unit(True, True), "unbound": Unit(False, False)},
        main={"milter_protocol": "6", "smtpd_milters": None},
        master={"submission/inet/milter_default_action": None},
    )
    assert Before.from_json(before.to_json()) == before


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d["whole"].update({"etc/relative": None}), "is not an absolute path"),
        (lambda d: d["whole"].update({"/etc/a/../shadow": None}), "is not an absolute path"),
        (lambda d: d["edited"].update({"/etc/new\nline": None}), "is not an absolute path"),
        (lambda d: d["whole"].update({"/etc/x": "rm -rf /"}), "is not a service's name"),
        (lambda d: d.pop("maps"), "does not hold"),
        (lambda d: d["blocks"].append(["/etc/x", "# begin"]), "is not (path, first line, last line, service)"),
    ],
)
def test_a_footprint_that_does_not_parse_is_refused_naming_what(change, says):
    data = json.loads(FOOTPRINT.to_json())
    change(data)
    with pytest.raises(RecordError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Footprint.from_json(json.dumps(data))


def test_runs_add_to_the_footprint_and_never_drop_from_it():
    later = Footprint(whole={"/etc/rspamd/local.d/new.conf": "rspamd"}, maps=FOOTPRINT.maps)
    merged = FOOTPRINT.merged(later)
    assert set(merged.whole) == {*FOOTPRINT.whole, "/etc/rspamd/local.d/new.conf"}
    assert merged.maps == FOOTPRINT.maps and merged.blocks == FOOTPRINT.blocks
    assert merged.merged(later) == merged


@pytest.mark.parametrize("original", ["site {\n}\n", "site {\n}", "site {\n}\n\n", ""])
def test_a_block_taken_out_gives_the_file_back_byte_for_byte(original):
    edited = blocks.replace_block(original, "# begin", "# end", "proxy {\n}\n")
    body = blocks.block_body(edited, "# begin", "# end")
    assert body == "proxy {\n}\n"
    assert blocks.replace_block(original, "# begin", "# end", body) == edited  # what remove.py compares
    assert blocks.without_block(edited, "# begin", "# end") in (original, original.rstrip("\n") + "\n")


def test_a_run_whose_check_failed_leaves_a_footprint_the_next_run_keeps():
    """A snippet whose check fails is rolled back, but the footprint it was planned into stays:
    the admin's next run, without the snippet, changes nothing (remove.py skips what is gone)."""
    model = HostModel.load("debian13", "fresh")
    apply(model, plan(model, SETTINGS, PASSWORDS))
    snippet = {"rspamd_snippets": {"local.d/custom.conf": "# the admin's\n"}}
    apply(model, plan(model, {**SETTINGS, **snippet}, PASSWORDS))
    assert "/etc/rspamd/local.d/custom.conf" in model.files[layout.FOOTPRINT]["text"]
    del model.files["/etc/rspamd/local.d/custom.conf"]  # as the rollback leaves it
    again = by_name(plan(model, SETTINGS, PASSWORDS))
    assert not again["What the deploy wrote, for remove.py"].changes
