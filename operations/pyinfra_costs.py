"""Three of pyinfra's per-operation costs, cut without changing what pyinfra computes.

pyinfra (3.x) pays these for every operation on every host while it plans:

- In CLI mode it orders operations by the line numbers of the deploy code that called them,
  which it takes from ``inspect.stack()``: that reads and tokenizes every frame's source file for
  every operation, the largest cost of a no-op rerun's planning. ``operation_order_from_stack``
  gives the same list from the frames themselves.
- Its global arguments' types come from ``typing.get_type_hints`` on a fixed TypedDict, asked
  anew for every operation and fact: ``global_arguments`` asks once.

- For every operation it looks each of its 30-odd global arguments up in the host's data
  (``getattr(host.data, key)``): ``HostData.__getattr__`` walks every data layer through a
  generator and a KeyError per layer that lacks the key, thousands of lookups a run.
  ``host_data_lookup`` walks the same layers in the same order without them.
  ``pop_global_arguments`` goes further: it walks the layers once per operation and takes the
  global arguments any of them holds (a dict's keys against the arguments' names, in C), then
  does for each argument what pyinfra's does.

``install()`` puts each in place of pyinfra's only while pyinfra's own is the one in use; only the
project's own commands call it (operations/entry.py), never an import. tests/offline/
test_pyinfra_costs.py checks that both give pyinfra's own answers; docs/pyinfra-proposals.md
writes each up as a change to offer pyinfra, with what each saves.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
from copy import copy
from types import FrameType

import pyinfra
from pyinfra.api import arguments, facts, util
from pyinfra.api.host import HostData
from pyinfra.api.util import PYINFRA_INSTALL_DIR

# The module, not the decorator that pyinfra.api exports under the same name.
_OPERATION_MODULE = importlib.import_module("pyinfra.api.operation")
_PYINFRA_GLOBAL_ARGUMENTS = arguments.all_global_arguments


def operation_order_from_stack(state) -> list[int]:
    frames = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    start = 0
    if state.current_deploy_filename:  # from the first frame of the deploy file on (none: no frame)
        names = [caller.f_code.co_filename for caller in frames]
        start = names.index(state.current_deploy_filename) if state.current_deploy_filename in names else len(frames)
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [
        caller.f_lineno for caller in frames[start:] if not caller.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)
    ]
    return line_numbers


@functools.cache
def _global_arguments() -> tuple[tuple[str, type], ...]:
    return tuple(_PYINFRA_GLOBAL_ARGUMENTS())


def global_arguments() -> list[tuple[str, type]]:
    return list(_global_arguments())  # a new list each time, as pyinfra's: a caller may change it


_PYINFRA_HOST_DATA_LOOKUP = HostData.__getattr__


def host_data_lookup(self: HostData, key: str):
    """``HostData.__getattr__``: the first layer that has ``key``, a shallow copy of its value."""
    for data in self.datas:
        if callable(data):  # a @deploy's data defaults, kept on the state while it runs
            data = data()
        if type(data) is dict:
            if key in data:
                return copy(data[key])
            continue
        try:  # any other mapping, as pyinfra asks it
            return copy(data[key])
        except KeyError:
            pass
    raise AttributeError(f"Host `{self.host}` has no data `{key}`")


_PYINFRA_POP_GLOBAL_ARGUMENTS = arguments.pop_global_arguments
# The modules that call it by the name they imported it under.
_CALLERS_OF_POP = tuple(importlib.import_module(f"pyinfra.api.{name}") for name in ("operation", "facts", "deploy"))


@functools.cache
def _global_argument_names() -> frozenset[str]:
    return frozenset(key for key, _ in _global_arguments())


def _host_global_values(host) -> dict:
    """The global arguments the host's data layers hold: for each, the first layer's (a copy), as
    ``getattr(host.data, key)`` gives it."""
    names = _global_argument_names()
    found: dict = {}
    for data in host.data.datas:
        if callable(data):  # a @deploy's data defaults, kept on the state while it runs
            data = data()
        if type(data) is dict:
            for key in names & data.keys():
                if key not in found:
                    found[key] = copy(data[key])
            continue
        for key in names - found.keys():  # any other mapping, asked key by key as pyinfra asks it
            with contextlib.suppress(KeyError):
                found[key] = copy(data[key])
    return found


def pop_global_arguments(state, host, kwargs):
    """``pyinfra.api.arguments.pop_global_arguments``, the host's data walked once."""
    config = state.config
    if arguments.ctx_config.isset():
        config = arguments.ctx_config.get()
        assert config is not None
    meta_kwargs = host.current_deploy_kwargs or {}
    host_values = _host_global_values(host)
    values: dict = {}
    found_keys: list[str] = []
    for key, type_ in _global_arguments():
        argument_meta = arguments.all_argument_meta[key]
        handler = argument_meta.handler
        default = host_values[key] if key in host_values else argument_meta.default(config)
        if key in kwargs:
            found_keys.append(key)
            value = kwargs.pop(key)
        else:
            value = meta_kwargs.get(key, default)
        if handler:
            value = handler(config, value)
        if value != default:
            arguments.raise_if_bad_type(value, type_, arguments.ArgumentTypeError, f"Invalid argument `{key}`:")
        values[key] = value
    return values, found_keys


def install() -> None:
    for module in _CALLERS_OF_POP:
        if getattr(module, "pop_global_arguments", None) is _PYINFRA_POP_GLOBAL_ARGUMENTS:
            setattr(module, "pop_global_arguments", pop_global_arguments)  # noqa: B010
    if HostData.__getattr__ is _PYINFRA_HOST_DATA_LOOKUP:
        HostData.__getattr__ = host_data_lookup  # type: ignore[method-assign]
    if getattr(_OPERATION_MODULE, "get_operation_order_from_stack", None) is util.get_operation_order_from_stack:
        setattr(_OPERATION_MODULE, "get_operation_order_from_stack", operation_order_from_stack)  # noqa: B010
    for module in (arguments, facts):
        if getattr(module, "all_global_arguments", None) is _PYINFRA_GLOBAL_ARGUMENTS:
            setattr(module, "all_global_arguments", global_arguments)  # noqa: B010
