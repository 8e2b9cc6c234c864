"""The plan of every modelled platform, compared with the one recorded in tests/plans/: a refactoring
that changes no behaviour leaves every operation's name, its commands and the content it uploads as
they were. A change that means to alter the plan records it anew, and the diff shows what changed:

    MAILGUARD_RECORD_PLANS=1 ./run test tests/offline/test_recorded_plans.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hostmodel import HostModel, plan
from support import PASSWORDS, SETTINGS
from test_platforms import ALL, model_for, settings_for

RECORDED = Path(__file__).resolve().parent.parent / "plans"
RECORD = os.environ.get("MAILGUARD_RECORD_PLANS") == "1"


def _random_by_design(path: str) -> bool:
    """Uploads whose content is new on every plan: a generated key, salted password hashes."""
    return path.endswith(".key") or path.endswith("/worker-controller.inc")


def _variants() -> dict[str, tuple[HostModel, dict]]:
    found = {f"{system} fresh": (model_for(system), settings_for(system)) for system in ALL}
    found["AlmaLinux 9 installed"] = (model_for("AlmaLinux 9", "installed"), settings_for("AlmaLinux 9"))
    for system, version in (("AlmaLinux 9", "2.3.16"), ("Debian 13", "2.4.1-4")):
        model = model_for(system, "installed" if system == "AlmaLinux 9" else "fresh")
        model.dovecot = {"version": version}
        found[f"{system} with Dovecot {version}"] = (model, settings_for(system))
    proxied = {**SETTINGS, "webui_proxy": "nginx"}
    found["AlmaLinux 9 installed, nginx"] = (model_for("AlmaLinux 9", "installed"), proxied)
    return found


def _recorded_form(ops) -> list:
    form = []
    for op in ops:
        commands = []
        for command in op.commands:
            if isinstance(command, tuple):
                _, dest, data = command
                digest = "random by design" if any(_random_by_design(p) for p in op.uploads()) else None
                commands.append(["upload", dest, digest or hashlib.sha256(data).hexdigest()])
            else:
                commands.append(str(command))
        form.append({"name": op.name, "serial": op.serial, "commands": commands})
    return form


VARIANTS = sorted(_variants())


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_plan_is_as_recorded(variant):
    model, settings = _variants()[variant]
    planned = _recorded_form(plan(model, settings, PASSWORDS))
    path = RECORDED / (variant.lower().replace(" ", "-").replace(",", "") + ".json")
    if RECORD:
        RECORDED.mkdir(exist_ok=True)
        path.write_text(json.dumps(planned, indent=1, ensure_ascii=False) + "\n")
    assert path.exists(), f"no recorded plan for {variant}: record it (see this module's docstring)"
    recorded = json.loads(path.read_text())
    assert [op["name"] for op in planned] == [op["name"] for op in recorded]
    for now, before in zip(planned, recorded, strict=True):
        assert now == before, now["name"]
