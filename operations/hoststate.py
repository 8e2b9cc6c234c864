"""One fact for everything the deploy manages: a no-op rerun asks the host once, not per file.

pyinfra asks a fact per operation (often three: File, Directory, Sha1File), each a network
round trip. Here every operation declares what it reads when it is called (``declare``), and the
first operation that runs reads the state of all of it in one command (``read_state``, with
templates/tools/read-host.sh). The snapshot stays valid until an operation has run a command on
the host; then the next read asks again, so an operation always decides on the host as it is at
that moment.

What can be read, and how the answers are framed and parsed: readhost.py. The questions a
run asked, kept for the next: remembered.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from weakref import WeakKeyDictionary

import gevent
from pyinfra import host, logger
from pyinfra.api import BaseStateCallback, State, operation
from pyinfra.api.host import Host

from . import readhost, remembered
from .readhost import Snapshot, read_state

Want = readhost.Want
PUBKEY_KIND = {"rsa": "pubkey", "ed25519": "edpubkey"}  # a DKIM key's algorithm -> what reads its public half


class _HostCache:
    """Per pyinfra host: what the deploy's operations want, and the last snapshot."""

    def __init__(self):
        self.wants: set[Want] = set()
        self.snapshot: Snapshot | None = None
        self.covers: frozenset[Want] = frozenset()
        self.executed_ops = -1
        self.said: set[str] = set()
        # Answers another command gave before any operation ran, and the questions they answer.
        self.early: dict[Want, list[str]] = {}
        self.early_covers: set[Want] = set()
        self.memory_key: bytes | None = None  # what signs the questions kept for the next run
        self.remembered: frozenset[Want] = frozenset()
        self.ahead: gevent.Greenlet | None = None  # read_ahead's read, in flight


_CACHES: WeakKeyDictionary[Host, _HostCache] = WeakKeyDictionary()


def current_host() -> Host:
    """The Host object behind pyinfra's ``host`` context (a proxy cannot key a cache)."""
    return host._get_module()  # type: ignore[attr-defined]  # pyinfra types ``host`` as Host, not its proxy


def _cache(target: Host | None = None) -> _HostCache:
    return _CACHES.setdefault(current_host() if target is None else target, _HostCache())


def warn_once(message: str) -> None:
    """A warning line for this host, printed once though pyinfra runs an operation's body twice
    (when it plans and when it executes)."""
    said = _cache().said
    if message not in said:
        said.add(message)
        logger.warning(f"{host.name}: {message}")


def declare(*wants: Want) -> None:
    """Declare, when an operation is called, what it will read when it runs."""
    _cache().wants.update(wants)


def _executed_ops(target: Host) -> int:
    """Operations on ``target`` that have run at least one command so far."""
    state = target.state
    if not state.is_executing:
        return 0  # while the deploy is planned nothing has run (walking every operation was O(n) per read)
    return sum(1 for data in state.ops.get(target, {}).values() if data.operation_meta.executed)


def snapshot(*wants: Want) -> Snapshot:
    """The host's state for ``wants`` (and everything else wanted so far), asked once per change."""
    return snapshot_of(current_host(), *wants)


def snapshot_of(target: Host, *wants: Want) -> Snapshot:
    """``snapshot`` for a given host, also after its operations ended (the DNS report reuses a
    no-op run's snapshot rather than asking again)."""
    cache = _cache(target)
    cache.wants.update(wants)
    executed = _executed_ops(target)
    if cache.ahead is not None:  # the read sent at the end of the plan: valid while nothing has run
        covers, answers = cache.ahead.get()
        cache.ahead = None
        if not executed and not isinstance(answers, Exception):
            cache.snapshot, cache.covers, cache.executed_ops = answers, covers, executed
    if cache.snapshot is None or executed != cache.executed_ops or not set(wants) <= cache.covers:
        covers = frozenset(cache.wants)
        cache.snapshot = _read(target, cache, covers, executed)
        cache.covers, cache.executed_ops = covers, executed
    return cache.snapshot


def _read(target: Host, cache: _HostCache, covers: frozenset[Want], executed: int) -> Snapshot:
    """What the host holds for ``covers``: before any operation ran, what was answered early is
    taken as it is and only the rest is asked."""
    answers = dict(cache.early) if not executed else {}
    asked = sorted(covers - cache.early_covers) if not executed else sorted(covers)
    if asked:
        answers.update(read_state(target, asked))
    return Snapshot(answers)


def read_ahead() -> None:
    """Send the read of everything the plan declared now, before any operation runs, and go on
    (gevent): what the controller does next (the passwords' PBKDF2) overlaps the host's answer.
    The first operation that reads takes it; a failed read is asked again there, and reported.
    The plan's questions are kept for the next run, which asks them with the system profile."""
    target = current_host()
    cache = _cache(target)
    if cache.snapshot is not None or cache.ahead is not None or not cache.wants:
        return
    covers = frozenset(cache.wants)
    if cache.memory_key is not None and covers != cache.remembered:
        remembered.remember(target, cache.memory_key, covers)
    if covers <= cache.early_covers:  # all answered with the profile: nothing to ask
        cache.snapshot, cache.covers, cache.executed_ops = _read(target, cache, covers, 0), covers, 0
        return

    def read() -> tuple[frozenset[Want], Snapshot | Exception]:
        try:
            return covers, _read(target, cache, covers, 0)
        except Exception as error:  # noqa: BLE001  (raised again by the read that replaces it)
            return covers, error

    cache.ahead = gevent.spawn(read)


def answered_before_changes(target: Host, answers: dict[Want, list[str]], covers) -> None:
    """Answers another command gave before any operation ran (the system profile's, in the state
    read's form) to the questions ``covers``: a read before any change takes them as they are."""
    cache = _cache(target)
    cache.early.update(answers)
    cache.early_covers.update(covers)


def recall(target: Host) -> list[Want]:
    """The questions the last run asked ``target`` (remembered.py), now to be asked with the profile;
    the plan's questions are kept for the next run once it is whole (read_ahead)."""
    cache = _cache(target)
    cache.memory_key = remembered.memory_key()
    cache.remembered = remembered.recall(target, cache.memory_key)
    return sorted(cache.remembered)


def operation_reading(wants_of):
    """pyinfra's ``@operation()``, declaring at call time what the operation will read.

    ``wants_of`` takes the operation's arguments (and pyinfra's global ones, to ignore) and
    returns (kind, argument) pairs.
    """

    def decorator(func):
        op = operation()(func)

        @functools.wraps(op)
        def call(*args, **kwargs):
            declare(*wants_of(*args, **kwargs))
            return op(*args, **kwargs)

        return call

    return decorator


class _AfterOperations(BaseStateCallback):
    """Runs what each host asked for once the run's last operation has ended (on the hosts that
    did not fail): reports that need what the operations made (a key, a record)."""

    def __init__(self) -> None:
        self.calls: dict[Host, dict[str, Callable[[Host], None]]] = {}
        self.last_op: str | None = None

    def operation_end(self, state, op_hash) -> None:  # type: ignore[override]  # pyinfra calls it on the instance
        if self.last_op is None:  # the order is fixed once the run executes (sorting it costs ms per call)
            self.last_op = (state.get_op_order() or [None])[-1]
        if op_hash != self.last_op:
            return
        for target, calls in self.calls.items():
            if target not in state.failed_hosts:
                for call in calls.values():
                    call(target)


_AFTER: WeakKeyDictionary[State, _AfterOperations] = WeakKeyDictionary()


def after_operations(name: str, call: Callable[[Host], None]) -> None:
    """Call ``call(host)`` for this host once every operation of the run has ended (once per ``name``)."""
    state = host.state
    if state not in _AFTER:
        _AFTER[state] = _AfterOperations()
        state.add_callback_handler(_AFTER[state])
    _AFTER[state].calls.setdefault(current_host(), {})[name] = call


def changed_anything(target: Host) -> bool:
    """Whether any operation of this run changed ``target``."""
    return any(data.operation_meta.did_change() for data in target.state.ops.get(target, {}).values())
