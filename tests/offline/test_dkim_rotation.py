"""DKIM key rotation: its stages decided from the host's state and DNS's answer, and planned
against modelled hosts (dkim_rotate.py and the ordinary deploy during a rotation)."""

from __future__ import annotations

import datetime

from hostmodel import ROOT, HostModel, apply, by_name, plan
from support import PASSWORDS, SETTINGS

from mailguard import dkim, layout

TODAY = datetime.date.today()
KEYS = "/var/lib/rspamd/dkim"
SIGNING = "/etc/rspamd/local.d/dkim_signing.conf"
ARC = "/etc/rspamd/local.d/arc.conf"
ROTATE = ROOT / "dkim_rotate.py"


def never(selector):
    return False, "0 of 2 servers: ns1 (192.0.2.1): missing, no DKIM record; ns2 (192.0.2.2): missing, no DKIM record"


def everywhere(selector):
    return True, "2 of 2 servers"


def test_the_three_stages_follow_each_other_and_each_says_what_comes_next():
    start = dkim.KeyState("dkim")
    one = dkim.rotation_step("example.com", start, TODAY, 7, never)
    new = f"dkim-{TODAY:%Y-%m}"
    assert (one.stage, one.done, one.publish) == (1, True, ((new, "rsa"),))
    assert one.state == dkim.KeyState("dkim", next=new, since=TODAY.isoformat())
    assert "signing stays with dkim" in one.says and "Publish the record below" in one.says

    waiting = dkim.rotation_step("example.com", one.state, TODAY, 7, never)
    assert (waiting.stage, waiting.done, waiting.state) == (2, False, one.state)
    assert "0 of 2 servers" in waiting.says and "signing stays with dkim" in waiting.says

    two = dkim.rotation_step("example.com", one.state, TODAY, 7, everywhere)
    assert (two.stage, two.done) == (2, True)
    assert two.state == dkim.KeyState(new, previous="dkim", since=TODAY.isoformat())
    assert f"signing switches from dkim to {new}" in two.says and str(TODAY + datetime.timedelta(days=7)) in two.says

    kept = dkim.rotation_step("example.com", two.state, TODAY + datetime.timedelta(days=6), 7, everywhere)
    assert (kept.stage, kept.done, kept.retire, kept.state) == (3, False, (), two.state)
    assert "stays published until" in kept.says

    three = dkim.rotation_step("example.com", two.state, TODAY + datetime.timedelta(days=7), 7, never)
    assert (three.stage, three.done, three.retire) == (3, True, (("dkim", "rsa"),))
    assert three.state == dkim.KeyState(new)
    assert "Remove its record" in three.says


def test_a_dated_selector_is_never_one_in_use():
    assert dkim.rotation_selector("dkim", datetime.date(2026, 11, 29)) == "dkim-2026-11"
    assert dkim.rotation_selector("dkim-2026-05", datetime.date(2026, 11, 29)) == "dkim-2026-11"
    assert dkim.rotation_selector("dkim-2026-11", datetime.date(2026, 11, 29)) == "dkim-2026-11-29"
    assert dkim.rotation_selector("mx", datetime.date(2026, 11, 29), taken={"mx-2026-11"}) == "mx-2026-11-29"
    assert dkim.rotation_selector("dkim-2026-11-29", datetime.date(2026, 11, 29), taken={"dkim-2026-11"}) is None


def test_the_state_file_reads_back_what_was_written_and_ignores_what_is_not_a_state():
    states = {
        "example.com": dkim.KeyState("dkim", next="dkim-2026-11", since="2026-11-29"),
        "example.org": dkim.KeyState("s2"),
    }
    text = dkim.state_text(states)
    assert text.startswith(layout.MANAGED_MARK)
    assert dkim.read_states(text + "garbage\nexample.net next=x\n") == states
    assert dkim.states_for(["example.com", "example.net"], lambda d: "dkim", text)["example.net"] == dkim.KeyState(
        "dkim"
    )


def _model_with_keys(*selectors: str, state: dict[str, dkim.KeyState] | None = None) -> HostModel:
    model = HostModel.load("debian13", "fresh")
    for selector in selectors:
        key = dkim.generate_private_key_pem(1024).decode()
        model.files[f"{KEYS}/example.com.{selector}.key"] = {
            "text": key,
            "user": "_rspamd",
            "group": "_rspamd",
            "mode": 600,
        }
    if state is not None:
        model.files[layout.DKIM_STATE] = {"text": dkim.state_text(state), "user": "root", "group": "root", "mode": 600}
    return model


def _uploads(ops) -> dict[str, str]:
    return {path: data.decode() for op in ops for path, data in op.uploads().items()}


def test_the_ordinary_deploy_signs_with_the_rotated_key_and_never_touches_the_rotation():
    new = "dkim-2026-11"
    state = {"example.com": dkim.KeyState(new, previous="dkim", since=TODAY.isoformat())}
    model = _model_with_keys("dkim", new, state=state)
    ops = plan(model, SETTINGS, PASSWORDS)
    files = _uploads(ops)
    for conf in (SIGNING, ARC):
        assert f'selector = "{new}";' in files[conf] and f"{KEYS}/example.com.{new}.key" in files[conf]
        assert 'selector = "dkim";' not in files[conf]
    assert layout.DKIM_STATE not in files
    assert not any("example.com.dkim.key" in path for path in files)  # the replaced key is not made again
    names = by_name(ops)
    assert not names[f"DKIM keys | DKIM: key for example.com (selector {new})"].changes


def test_stage_one_generates_the_next_key_and_keeps_signing_with_the_old():
    model = _model_with_keys("dkim")
    apply(model, plan(model, SETTINGS, PASSWORDS))  # deployed: signing with dkim
    ops = plan(model, SETTINGS, PASSWORDS, deploy_file=ROTATE)
    new = f"dkim-{TODAY:%Y-%m}"
    files = _uploads(ops)
    assert f"{KEYS}/example.com.{new}.key" in files and "PRIVATE KEY" in files[f"{KEYS}/example.com.{new}.key"]
    assert SIGNING not in files and ARC not in files  # signing stays with dkim: the files are as they were
    assert dkim.read_states(files[layout.DKIM_STATE]) == {
        "example.com": dkim.KeyState("dkim", next=new, since=TODAY.isoformat())
    }
    apply(model, ops)
    # The ordinary deploy now keeps the next key and the rotation as they are.
    again = plan(model, SETTINGS, PASSWORDS)
    assert not any(op.changes for op in again), [op.name for op in again if op.changes]


def test_stage_three_retires_the_old_key_into_the_root_only_store_and_ends_the_rotation():
    new = "dkim-2026-11"
    since = (TODAY - datetime.timedelta(days=3)).isoformat()
    model = _model_with_keys("dkim", new, state={"example.com": dkim.KeyState(new, previous="dkim", since=since)})
    settings = {**SETTINGS, "dkim_retire_days": 3}
    ops = plan(model, settings, PASSWORDS, deploy_file=ROTATE)
    retire = by_name(ops)["DKIM: retire example.com's key dkim"]
    assert retire.commands == [
        f"mkdir -p -m 700 -- {layout.RETIRED_DKIM_DIR}",
        f"retire.sh {KEYS}/example.com.dkim.key {layout.RETIRED_DKIM_DIR}/example.com.dkim.retired-{TODAY}.key",
    ]
    assert dkim.read_states(_uploads(ops)[layout.DKIM_STATE]) == {"example.com": dkim.KeyState(new)}

    waiting = plan(model, {**settings, "dkim_retire_days": 4}, PASSWORDS, deploy_file=ROTATE)
    assert "DKIM: retire example.com's key dkim" not in by_name(waiting)
    assert not by_name(waiting)["DKIM: which key each domain signs with"].changes


def test_an_ed25519_key_is_staged_then_signs_and_rotates_with_its_rsa_key():
    start = dkim.KeyState("dkim")
    made = dkim.rotation_step("example.com", start, TODAY, 7, everywhere, ed25519=True)
    assert (made.stage, made.state, made.publish) == (
        1,
        dkim.KeyState("dkim", ed25519="next"),
        (("dkim-ed25519", "ed25519"),),
    )
    assert "Ed25519, stage 1 of 2" in made.says and "dkim (RSA) signs alone" in made.says
    waiting = dkim.rotation_step("example.com", made.state, TODAY, 7, never, ed25519=True)
    assert (waiting.done, waiting.state) == (False, made.state)
    served = dkim.rotation_step("example.com", made.state, TODAY, 7, everywhere, ed25519=True)
    assert served.state == dkim.KeyState("dkim", ed25519="signing") and served.state.signs_ed25519
    # a rotation then makes, waits for, switches and retires both keys together
    one = dkim.rotation_step("example.com", served.state, TODAY, 7, never, ed25519=True)
    new = f"dkim-{TODAY:%Y-%m}"
    assert one.publish == ((new, "rsa"), (f"{new}-ed25519", "ed25519"))
    half = dkim.rotation_step(
        "example.com", one.state, TODAY, 7, lambda s: (not s.endswith("ed25519"), "1 of 1"), ed25519=True
    )
    assert not half.done and half.state == one.state  # the RSA record alone is not enough
    two = dkim.rotation_step("example.com", one.state, TODAY, 7, everywhere, ed25519=True)
    assert two.state == dkim.KeyState(new, previous="dkim", since=TODAY.isoformat(), ed25519="signing")
    three = dkim.rotation_step("example.com", two.state, TODAY + datetime.timedelta(days=7), 7, never, ed25519=True)
    assert three.retire == (("dkim", "rsa"), ("dkim-ed25519", "ed25519"))
    assert dkim.read_states(dkim.state_text({"example.com": three.state})) == {"example.com": three.state}


def test_the_deploy_signs_with_ed25519_only_once_its_record_is_served():
    model = HostModel.load("el9", "installed")
    ops = plan(model, {**SETTINGS, "dkim_ed25519": True}, PASSWORDS)
    files = _uploads(ops)
    assert not any("ed25519" in path for path in files)  # dkim_rotate.py makes it: the deploy only says so
    assert "ed25519" not in files[SIGNING]
    apply(model, ops)
    staged = plan(model, {**SETTINGS, "dkim_ed25519": True}, PASSWORDS, deploy_file=ROTATE)
    key = _uploads(staged)[f"{KEYS}/example.com.dkim-ed25519.key"]
    assert len(key) == 88 and key.endswith("=")  # base64 of 64 bytes, no line end: what rspamd 3.4+ loads
    assert SIGNING not in _uploads(staged)  # made, not signing
    assert dkim.read_states(_uploads(staged)[layout.DKIM_STATE])["example.com"] == dkim.KeyState("dkim", ed25519="next")


def _with_ed25519_key(model: HostModel) -> None:
    model.files[f"{KEYS}/example.com.dkim-ed25519.key"] = {
        "text": dkim.generate_ed25519_key().decode(),
        "user": "_rspamd",
        "group": "_rspamd",
        "mode": 600,
    }


def test_with_ed25519_signing_dkim_signing_uses_the_second_key_and_arc_does_not():
    model = _model_with_keys("dkim", state={"example.com": dkim.KeyState("dkim", ed25519="signing")})
    _with_ed25519_key(model)
    files = _uploads(plan(model, {**SETTINGS, "dkim_ed25519": True}, PASSWORDS))
    signing = files[SIGNING]
    assert f'path = "{KEYS}/example.com.dkim.key";\n    selector = "dkim";' in signing
    assert f'path = "{KEYS}/example.com.dkim-ed25519.key";\n        selector = "dkim-ed25519";' in signing
    assert "ed25519" not in files[ARC]  # ARC seals once, with the RSA key


def test_an_ed25519_key_an_older_deploy_made_keeps_signing():
    """Before staging, the deploy made the key and signed with it at once: no state names it."""
    model = _model_with_keys("dkim")
    apply(model, plan(model, SETTINGS, PASSWORDS))
    _with_ed25519_key(model)
    files = _uploads(plan(model, {**SETTINGS, "dkim_ed25519": True}, PASSWORDS))
    assert 'selector = "dkim-ed25519";' in files[SIGNING]
