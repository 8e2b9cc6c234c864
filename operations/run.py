"""What one pyinfra run shares among its hosts, kept on pyinfra's own ``State``.

pyinfra hands a deploy file the run's State and the host being planned, and has no other place for
an extension's data that lives as long as the run: a callback handler registered on the State is
one. ``Run`` is that handler, found again through the State, never through a module global:

- each host's reads (``HostReads``) and system profile, asked once whoever asks first (a group's
  host reads another host's DKIM keys while it is planned);
- the group's DKIM keys, made or carried once for every host of the run that lacks them;
- what each host asked to run once the run's last operation has ended (the DNS report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gevent.lock import Semaphore
from pyinfra import host
from pyinfra.api import BaseStateCallback, State
from pyinfra.api.host import Host

from .hoststate import HostReads

Handler = TypeVar("Handler", bound=BaseStateCallback)


class Run(BaseStateCallback):
    def __init__(self) -> None:
        self._reads: dict[Host, HostReads] = {}
        self._profiles: dict[Host, dict] = {}
        self._asking: dict[Host, Semaphore] = {}
        self.group_keys: dict[str, bytes] = {}  # key path -> the key every host that lacks it gets
        self._after: dict[Host, dict[str, Callable[[], None]]] = {}
        self._last_op: str | None = None

    def reads(self, target: Host) -> HostReads:
        return self._reads.setdefault(target, HostReads(target))

    def profile(self, target: Host, read: Callable[[HostReads], dict]) -> dict:
        """``target``'s system profile, ``read(reads)`` once per run whoever asks first."""
        with self._asking.setdefault(target, Semaphore()):  # hosts' reads overlap (greenlets)
            if target not in self._profiles:
                self._profiles[target] = read(self.reads(target))
        return self._profiles[target]

    def after_operations(self, target: Host, name: str, call: Callable[[], None]) -> None:
        """``call()`` once every operation of the run has ended, if ``target`` did not fail (once per
        ``name``): reports that need what the operations made (a key, a record)."""
        self._after.setdefault(target, {})[name] = call

    def operation_end(self, state, op_hash) -> None:  # type: ignore[override]  # pyinfra calls it on the instance
        if self._last_op is None:  # the order is fixed once the run executes (sorting it costs ms per call)
            self._last_op = (state.get_op_order() or [None])[-1]
        if op_hash != self._last_op:
            return
        for target, calls in self._after.items():
            if target not in state.failed_hosts:
                for call in calls.values():
                    call()


def registered(state: State, kind: type[Handler]) -> Handler:
    """The run's ``kind`` callback handler, registered on ``state`` the first time it is asked for."""
    for handler in state.callback_handlers:
        if isinstance(handler, kind):
            return handler
    made = kind()
    state.add_callback_handler(made)
    return made


def run_of(state: State) -> Run:
    return registered(state, Run)


def handed_over() -> Host:
    """The Host pyinfra is planning now, behind its ``host`` context (a proxy is no dict key).
    Only the entry points ask it; everything below them is given the host's context."""
    return host._get_module()  # type: ignore[attr-defined]  # pyinfra types ``host`` as Host, not its proxy
