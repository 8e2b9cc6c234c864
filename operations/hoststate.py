"""One fact for everything the deploy manages: a no-op rerun asks the host once, not per file.

pyinfra asks a fact per operation (often three: File, Directory, Sha1File), each a network
round trip. Here every operation declares what it reads when it is called (``HostReads.declare``,
done by ``operation_reading``), and the first operation that runs reads the state of all of it in
one command (``read_state``, with templates/tools/read-host.sh). The snapshot stays valid until an
operation has run a command on the host; then the next read asks again, so an operation always
decides on the host as it is at that moment.

Each host's ``HostReads`` is made once per run (run.py) and passed to the operations that read, as
their ``reads`` argument. What can be read, and how the answers are framed and parsed: readhost.py.
The questions a run asked, kept for the next: remembered.py.
"""

from __future__ import annotations

import functools
import inspect

import gevent
from pyinfra import logger
from pyinfra.api import operation
from pyinfra.api.host import Host

from mailguard.footprint import FootprintNotes
from mailguard.layout import STATE_DIR

from . import readhost, remembered
from .readhost import Snapshot, read_state

Want = readhost.Want
PUBKEY_KIND = {"rsa": "pubkey", "ed25519": "edpubkey"}  # a DKIM key's algorithm -> what reads its public half


class HostReads:
    """One host's reads in one run: what its operations want, and the last snapshot."""

    def __init__(self, target: Host) -> None:
        self.target = target
        self.wants: set[Want] = set()
        self._snapshot: Snapshot | None = None
        self._executed_ops = -1
        self._said: set[str] = set()
        # Answers another command gave before any operation ran, and the questions they answer.
        self._early: dict[Want, list[str]] = {}
        self._early_covers: set[Want] = set()
        self._memory_key: bytes | None = None  # what signs the questions kept for the next run
        self._remembered: frozenset[Want] = frozenset()
        self._ahead: gevent.Greenlet | None = None  # read_ahead's read, in flight
        self.footprint = FootprintNotes()  # what this run's operations write (mailguard/footprint.py)

    def __repr__(self) -> str:  # (pyinfra shows an unnamed operation's arguments)
        return f"HostReads({self.target.name})"

    def warn_once(self, message: str) -> None:
        """A warning line for this host, printed once though pyinfra runs an operation's body twice
        (when it plans and when it executes)."""
        if message not in self._said:
            self._said.add(message)
            logger.warning(f"{self.target.name}: {message}")

    def wrote(self, kind: str, item, service: str | None) -> None:
        """An operation of this run writes ``item`` (a path; for a block, (path, first line, last
        line)), read by ``service``, as ``kind`` (a field of ``FootprintNotes``); the deploy's own
        state is not listed."""
        path = item[0] if isinstance(item, tuple) else item
        if not path.startswith(f"{STATE_DIR}/"):
            getattr(self.footprint, kind)[item] = service

    def declare(self, *wants: Want) -> None:
        """Declare, when an operation is called, what it will read when it runs."""
        self.wants.update(wants)

    def _executed(self) -> int:
        """Operations on this host that have run at least one command so far."""
        state = self.target.state
        if not state.is_executing:
            return 0  # while the deploy is planned nothing has run (walking every operation was O(n) per read)
        return sum(1 for data in state.ops.get(self.target, {}).values() if data.operation_meta.executed)

    def snapshot(self, *wants: Want) -> Snapshot:
        """The host's state for ``wants`` (and everything else wanted so far), asked once per change;
        also after the run's operations ended (the DNS report reuses a no-op run's snapshot)."""
        self.wants.update(wants)
        executed = self._executed()
        if self._ahead is not None:  # the read sent at the end of the plan: valid while nothing has run
            ahead = self._ahead.get()
            self._ahead = None
            if not executed and not isinstance(ahead, Exception):
                self._snapshot, self._executed_ops = ahead, executed
        if self._snapshot is None or executed != self._executed_ops or not set(wants) <= self._snapshot.asked:
            # Before any change, everything the plan wants (one read serves the run); after one,
            # only what this reader wants: a read's time grows with what it asks.
            read = self._read(frozenset(self.wants) if not executed else frozenset(wants), executed)
            if self._snapshot is not None and executed == self._executed_ops:  # nothing ran since: kept too
                read = Snapshot({**self._snapshot.answers, **read.answers}, read.asked | self._snapshot.asked)
            self._snapshot, self._executed_ops = read, executed
        return self._snapshot.only(wants)

    def _read(self, covers: frozenset[Want], executed: int) -> Snapshot:
        """What the host holds for ``covers``: before any operation ran, what was answered early is
        taken as it is and only the rest is asked."""
        answers = dict(self._early) if not executed else {}
        asked = sorted(covers - self._early_covers) if not executed else sorted(covers)
        if asked:
            answers.update(read_state(self.target, asked))
        return Snapshot(answers, covers)

    def read_ahead(self) -> None:
        """Send the read of everything the plan declared now, before any operation runs, and go on
        (gevent): what the controller does next (the passwords' PBKDF2) overlaps the host's answer.
        The first operation that reads takes it; a failed read is asked again there, and reported.
        The plan's questions are kept for the next run, which asks them with the system profile."""
        if self._snapshot is not None or self._ahead is not None or not self.wants:
            return
        covers = frozenset(self.wants)
        if self._memory_key is not None and covers != self._remembered:
            remembered.remember(self.target, self._memory_key, covers)
        if covers <= self._early_covers:  # all answered with the profile: nothing to ask
            self._snapshot, self._executed_ops = self._read(covers, 0), 0
            return

        def read() -> Snapshot | Exception:
            try:
                return self._read(covers, 0)
            except Exception as error:  # noqa: BLE001  (raised again by the read that replaces it)
                return error

        self._ahead = gevent.spawn(read)

    def answered_before_changes(self, answers: dict[Want, list[str]], covers) -> None:
        """Answers another command gave before any operation ran (the system profile's, in the state
        read's form) to the questions ``covers``: a read before any change takes them as they are."""
        self._early.update(answers)
        self._early_covers.update(covers)

    def recall(self) -> list[Want]:
        """The questions the last run asked this host (remembered.py), now to be asked with the
        profile; the plan's questions are kept for the next run once it is whole (read_ahead)."""
        self._memory_key = remembered.memory_key()
        self._remembered = remembered.recall(self.target, self._memory_key)
        return sorted(self._remembered)

    def changed_anything(self) -> bool:
        """Whether any operation of this run changed the host."""
        return any(data.operation_meta.did_change() for data in self.target.state.ops.get(self.target, {}).values())


def operation_reading(wants_of):
    """pyinfra's ``@operation()`` for an operation that reads the host, its reads declared once.

    ``wants_of`` takes the operation's arguments (and pyinfra's global ones, to ignore) and returns
    the (kind, argument) questions its body reads. The caller gives the host's ``HostReads`` as
    ``reads=``: told of the questions when the operation is called, it answers them when the body
    runs, which receives the answers as ``state`` (a ``Snapshot``), and ``reads`` too where it
    declares it (to say something once, ``HostReads.warn_once``).
    """

    def decorator(func):
        wants_reads = "reads" in inspect.signature(func).parameters

        def body(*args, reads: HostReads, **kwargs):
            state = reads.snapshot(*wants_of(*args, **kwargs))
            return (yield from func(*args, state=state, **({"reads": reads} if wants_reads else {}), **kwargs))

        # pyinfra names the operation after the function: body stands in for it, with its own signature
        body.__name__, body.__qualname__, body.__module__ = func.__name__, func.__qualname__, func.__module__
        body.__doc__ = func.__doc__
        op = operation()(body)

        @functools.wraps(func)
        def call(*args, reads: HostReads, **kwargs):
            reads.declare(*wants_of(*args, **kwargs))
            return op(*args, reads=reads, **kwargs)

        del call.__wrapped__  # (its signature is call's own: the body's ``state`` is not the caller's)
        return call

    return decorator
