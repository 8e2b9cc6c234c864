"""operations.pyinfra_costs gives pyinfra's own answers: the same operation order, the same global arguments."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api import arguments, facts, util

from operations import pyinfra_costs


@pytest.fixture(autouse=True)
def installed():
    """As the project's commands do (operations/entry.py): importing the package does not."""
    pyinfra_costs.install()


def _nested(depth: int, state) -> list[list[int]]:
    if depth:
        return _nested(depth - 1, state)
    # Both from the same line, as pyinfra's solve_operation_consistency calls its own.
    return [order(state) for order in (util.get_operation_order_from_stack, pyinfra_costs.operation_order_from_stack)]


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("deploy_file", [None, "this file", "/elsewhere/deploy.py"])
def test_the_line_numbers_are_pyinfras_own(monkeypatch, is_cli, deploy_file):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    deploy_file = _nested.__code__.co_filename if deploy_file == "this file" else deploy_file
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    for depth in (0, 3):
        theirs, ours = _nested(depth, state)
        assert ours == theirs
        if deploy_file != "/elsewhere/deploy.py":
            assert len(ours) >= depth + 2


def test_it_is_what_pyinfra_calls_once_installed():
    module = importlib.import_module("pyinfra.api.operation")
    assert module.get_operation_order_from_stack is pyinfra_costs.operation_order_from_stack


def test_the_global_arguments_are_pyinfras_own_and_each_call_gets_its_own_list():
    theirs = pyinfra_costs._PYINFRA_GLOBAL_ARGUMENTS()
    assert pyinfra_costs.global_arguments() == theirs and len(theirs) > 10
    assert arguments.all_global_arguments is facts.all_global_arguments is pyinfra_costs.global_arguments
    arguments.all_global_arguments().clear()
    assert arguments.all_global_arguments() == theirs


def test_host_data_is_looked_up_as_pyinfra_looks_it_up():
    from pyinfra.api.host import HostData

    class Mapping:  # a layer that is no dict
        def __getitem__(self, key):
            if key == "only_here":
                return ["mapped"]
            raise KeyError(key)

    deploy_defaults = {"mail_settings": {}, "_sudo": False}
    data = HostData("h", {"ssh_port": 2222, "shared": [1]}, lambda: deploy_defaults, Mapping(), {"shared": [2]})
    data.override = "set during the deploy"
    for key in ("ssh_port", "shared", "mail_settings", "_sudo", "only_here", "override", "missing"):
        theirs = ours = AttributeError
        try:
            theirs = pyinfra_costs._PYINFRA_HOST_DATA_LOOKUP(data, key)
        except AttributeError as error:
            theirs = str(error)
        try:
            ours = pyinfra_costs.host_data_lookup(data, key)
        except AttributeError as error:
            ours = str(error)
        assert ours == theirs, key
    copied = data.shared
    copied.append(3)
    assert data.shared == [1]  # a copy, as pyinfra gives
    assert HostData.__getattr__ is pyinfra_costs.host_data_lookup


@pytest.mark.parametrize("python_says", [{}, {"PYTHONDONTWRITEBYTECODE": "1"}])
def test_the_deploys_modules_keep_their_bytecode_after_pyinfras_cli_turned_it_off(python_says):
    """As pyinfra_cli.main does before it loads the inventory: our inventory puts Python's own setting back."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | python_says
    code = (
        "import sys, runpy; sys.dont_write_bytecode = True\n"
        "try:\n    runpy.run_path('inventory.py')\nexcept SystemExit:\n    pass\n"
        "print(sys.dont_write_bytecode)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(pyinfra_costs.__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == ("True" if python_says else "False"), result.stderr


class _Layer:  # a data layer that is no dict
    def __getitem__(self, key):
        if key == "_sudo_user":
            return "mapped"
        raise KeyError(key)


def _host_with_layers(*datas):
    from pyinfra.api import Config, Inventory, State

    inventory = Inventory(([("h", {"ssh_port": 2222})], {}))
    state = State(inventory, Config())
    target = inventory.get_host("h")
    target.data.__dict__["datas"] = (*target.data.datas, *datas)
    return state, target


@pytest.mark.parametrize(
    ("layers", "kwargs", "deploy_kwargs"),
    [
        ((), {}, None),
        (({"_sudo": True, "other": 1},), {}, None),
        ((lambda: {"_sudo": True, "_env": {"A": "1"}}, _Layer(), {"_sudo": False}), {}, None),
        (({"_sudo": True},), {"_sudo": False, "_env": {"B": "2"}, "path": "/x"}, None),
        ((), {"_chdir": "/tmp"}, {"_sudo": True, "_timeout": 9}),
    ],
)
def test_global_arguments_are_popped_as_pyinfra_pops_them(layers, kwargs, deploy_kwargs):
    state, target = _host_with_layers(*layers)
    target.current_deploy_kwargs = deploy_kwargs
    theirs_kwargs, ours_kwargs = dict(kwargs), dict(kwargs)
    theirs = pyinfra_costs._PYINFRA_POP_GLOBAL_ARGUMENTS(state, target, theirs_kwargs)
    ours = pyinfra_costs.pop_global_arguments(state, target, ours_kwargs)
    assert ours == theirs and ours_kwargs == theirs_kwargs  # the same values, the same keys left over


def test_a_bad_global_argument_is_refused_in_pyinfras_words():
    state, target = _host_with_layers()
    messages = []
    for pop in (pyinfra_costs._PYINFRA_POP_GLOBAL_ARGUMENTS, pyinfra_costs.pop_global_arguments):
        with pytest.raises(Exception) as raised:
            pop(state, target, {"_sudo": "yes please"})
        messages.append((type(raised.value), str(raised.value)))
    assert messages[0] == messages[1]


def test_pyinfras_callers_call_ours_once_installed():
    for name in ("operation", "facts", "deploy"):
        assert importlib.import_module(f"pyinfra.api.{name}").pop_global_arguments is pyinfra_costs.pop_global_arguments


def test_importing_the_packaged_deploy_leaves_pyinfra_as_shipped():
    """An admin's own deploy that imports mail_filter gets pyinfra unchanged: only the project's own
    commands (operations/entry.py) switch the speed-ups on."""
    code = """
import importlib, json, pkgutil, sys
import pyinfra.api
from pyinfra.api.host import HostData

def seen():
    found = {name: id(value) for name, value in vars(HostData).items()}
    for info in pkgutil.iter_modules(pyinfra.api.__path__, "pyinfra.api."):
        module = importlib.import_module(info.name)
        found.update({f"{info.name}.{k}": id(v) for k, v in vars(module).items() if callable(v)})
    return found

before = seen()
from operations.mail_filter import mail_filter
print(json.dumps(sorted(k for k, v in seen().items() if before.get(k) != v)), sys.dont_write_bytecode)
"""
    result = subprocess.run(
        [sys.executable, "-B", "-c", code],
        cwd=Path(pyinfra_costs.__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == ["[]", "True"], result.stderr[-2000:]
