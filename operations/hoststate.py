"""One fact for everything the deploy manages: a no-op rerun asks the host once, not per file.

pyinfra asks a fact per operation (often three: File, Directory, Sha1File), each a network
round trip. Here every operation declares what it reads when it is called (``declare``), and the
first operation that runs reads the state of all of it in one command (``read_state``, with
templates/tools/read-host.sh). The snapshot stays valid until an operation has run a command on
the host; then the next read asks again, so an operation always decides on the host as it is at
that moment.

What can be read, as (kind, argument):
    stat     a path: owner, group, mode, type, sha256 of a regular file (answered as "sha256")
    text     a file's content (files the deploy edits rather than replaces)
    groups   a user's groups
    group    whether a group exists
    postconf a Postfix parameter's value
    master   master.cf's services ("services") or their -o parameters ("params")
    pubkey   the public half of a private key file (the private key never leaves the host)
    edpubkey the same, of an Ed25519 key in rspamd's base64 form
    unit     a systemd unit: running, enabled
    deb, rpm an installed package and its version, asked of dpkg or rpm (the platform's package manager)
    glob     the paths matching a shell glob (ours, never user input)
    sebool   an SELinux boolean: on, off, or None where SELinux is absent
    managed  whether a file's first two lines carry the deploy's mark (it wrote the file)
    dnfrepo  whether a dnf repository is enabled in /etc/yum.repos.d
    firewalld the services firewalld's permanent configuration allows
    pwhash   the controller's password hashes, each as salt and sha256 only
    dbsize   how many keys Redis holds (the argument: its socket)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

import gevent
from pyinfra import host, logger
from pyinfra.api import BaseStateCallback, State, operation
from pyinfra.api.host import Host

from . import readhost

Want = readhost.Want
PUBKEY_KIND = {"rsa": "pubkey", "ed25519": "edpubkey"}  # a DKIM key's algorithm -> what reads its public half


def read_state(target: Host, wants) -> dict[Want, list[str]]:
    """The answers to ``wants``, asked of ``target`` in one command (templates/tools/read-host.sh)."""
    command, groups = readhost.state_command(wants)
    lines = readhost.ask(target, command)
    state_lines = readhost.split_profile(lines)[1]
    if state_lines is None:
        raise readhost.ReadError(f"mailguard: {target.name}'s state read printed no answers")
    return readhost.parse_state(state_lines, groups)


@dataclass(frozen=True)
class Snapshot:
    answers: dict

    def _lines(self, kind: str, arg: str) -> list[str]:
        return self.answers.get((kind, arg), [])

    def stat(self, path: str) -> dict | None:
        lines = self._lines("stat", path)
        if not lines:
            return None
        user, group, mode, kind = lines[0].split(" ", 3)
        return {
            "user": user,
            "group": group,
            "mode": int(mode),
            "type": "regular file" if kind == "regular empty file" else kind,  # stat's name for size 0
            "sha256": next(iter(self._lines("sha256", path)), None),
        }

    def text(self, path: str) -> str | None:
        lines = self._lines("text", path)
        if not lines or not lines[0].startswith("b64:"):
            return None
        return base64.b64decode(lines[0][4:]).decode("utf-8", "surrogateescape")

    def groups(self, user: str) -> list[str]:
        return " ".join(self._lines("groups", user)).split()

    def group_exists(self, name: str) -> bool:
        return self._lines("group", name) == [name]

    def postconf(self, name: str) -> str | None:
        for line in self._lines("postconf", name):
            key, sep, value = line.partition("=")
            if sep and key.strip() == name:
                return value.strip()
        return None

    def master_services(self) -> set[str]:
        """master.cf's services, as "name/type" (submission/inet)."""
        return {"/".join(line.split()[:2]) for line in self._lines("master", "services") if len(line.split()) > 1}

    def master_param(self, service: str, name: str) -> str | None:
        """A -o parameter of a master.cf service ("submission/inet"), or None."""
        for line in self._lines("master", "params"):
            key, sep, value = line.partition("=")
            if sep and key.strip() == f"{service}/{name}":
                return value.strip()
        return None

    def pubkey(self, path: str, kind: str = "pubkey") -> str | None:
        """``kind``: "pubkey" (an RSA key in PEM) or "edpubkey" (an Ed25519 key as rspamd reads it)."""
        value = "".join(self._lines(kind, path)).strip()
        return value or None

    def unit(self, name: str) -> dict:
        props = dict(line.split("=", 1) for line in self._lines("unit", name) if "=" in line)
        return {
            "exists": props.get("LoadState") == "loaded",
            "running": props.get("ActiveState") in ("active", "reloading", "activating"),
            "enabled": props.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias"),
            "masked": props.get("LoadState") == "masked",
        }

    def installed(self, kind: str, package: str) -> bool:
        """``kind``: "deb" or "rpm"."""
        return any(line.split()[:1] == ["installed"] for line in self._lines(kind, package))

    def package_version(self, kind: str, package: str) -> str | None:
        """The installed package's upstream version ("3.12.1" of "1:3.12.1-2~trixie"), or None."""
        for line in self._lines(kind, package):
            words = line.split()
            if words[:1] == ["installed"] and len(words) > 1:
                found = re.match(r"[0-9][0-9.]*", words[1].rpartition(":")[2])
                return found.group(0).rstrip(".") if found else None
        return None

    def sebool(self, name: str) -> bool | None:
        for line in self._lines("sebool", name):
            if line.startswith(f"{name} --> "):
                return line.endswith("on")
        return None

    def managed(self, path: str) -> bool:
        """Whether the file's first lines carry the deploy's mark."""
        return any(line.strip() not in ("", "0") for line in self._lines("managed", path))

    def password_hashes(self, path: str) -> dict[str, tuple[str, str]]:
        """name -> (salt, sha256 of the hash) of the controller's stored passwords."""
        found = {}
        for line in self._lines("pwhash", path):
            parts = line.split()
            if len(parts) == 3:
                found[parts[0]] = (parts[1], parts[2])
        return found

    def repo_enabled(self, repo: str) -> bool:
        return "enabled" in self._lines("dnfrepo", repo)

    def firewalld_services(self) -> list[str]:
        return " ".join(self._lines("firewalld", "services")).split()

    def dbsize(self, socket: str) -> int:
        return next((int(line) for line in self._lines("dbsize", socket) if line.strip().isdigit()), 0)

    def glob(self, pattern: str) -> list[str]:
        return [line for line in self._lines("glob", pattern) if line]


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
        remember(target, cache.memory_key, covers)
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


# The questions the last run asked a host, kept on the controller (kinds and paths: nothing the host
# answered), so that the next run asks them with the system profile, one command for a no-op rerun.
# They are signed with a random key kept beside them (never one derived from a password: a file
# that a fast hash of the password verifies would let anyone who copies it guess the password far
# faster than rspamd's PBKDF2 allows): a file this controller did not write is never asked of the
# host. Only a speed-up: an operation still decides on answers to what it reads, asked before
# anything ran.
def memory_dir() -> Path:
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("MAILGUARD_CACHE_DIR") or Path(home) / "mailguard")


MEMORY_KEY_BYTES = 32


def memory_key() -> bytes | None:
    """This controller's key for the questions it keeps, made on first use; None where it cannot be
    read or made (nothing is then remembered)."""
    path = memory_dir() / "key"
    for _ in range(3):
        try:
            with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as kept:
                key = kept.read(MEMORY_KEY_BYTES + 1)
            if len(key) == MEMORY_KEY_BYTES:
                return key
            path.unlink()  # damaged (it is never seen half-written: it appears whole, below): made anew
        except FileNotFoundError:
            pass
        except OSError:
            return None
        try:
            scratch = _written_aside(path, os.urandom(MEMORY_KEY_BYTES))
            try:
                os.link(scratch, path)  # whole or not at all: a key another run made meanwhile stays
            except FileExistsError:
                pass
            finally:
                scratch.unlink()
        except OSError:
            return None
    return None


def _written_aside(path: Path, data: bytes) -> Path:
    """``data`` in a new file beside ``path``, mode 600 in a 700 directory, to be moved into place."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.unlink(missing_ok=True)
    with open(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as made:
        made.write(data)
    return scratch


def _memory_file(target: Host) -> Path:
    return memory_dir() / f"questions-{hashlib.sha256(target.name.encode()).hexdigest()[:16]}.json"


def _signature(key: bytes, wants) -> str:
    return hmac.new(key, json.dumps(sorted(wants)).encode(), "sha256").hexdigest()


_ARGUMENT = re.compile(r"[^\0\n]{1,4096}\Z")
_PATTERN = re.compile(r"[A-Za-z0-9_./*+@:-]+\Z")  # what a remembered glob may be: the deploy's own patterns


def _askable(want) -> bool:
    """Whether a remembered question is of a form the deploy asks: a known kind, an argument with
    no newline or NUL (every argument reaches the host as one quoted word), a glob of plain words."""
    if not (isinstance(want, tuple) and len(want) == 2 and all(isinstance(part, str) for part in want)):
        return False
    kind, arg = want
    if kind not in readhost.KINDS or kind == "sha256" or not _ARGUMENT.match(arg):
        return False
    return kind != "glob" or bool(_PATTERN.match(arg))


def recall(target: Host, key: bytes | None) -> list[Want]:
    """The questions the last run asked ``target``, when this controller kept them with ``key``."""
    cache = _cache(target)
    cache.memory_key = key
    if key is None:
        return []
    try:
        kept = json.loads(_memory_file(target).read_text())
        wants = [tuple(pair) for pair in kept["wants"]]
        signed = hmac.compare_digest(str(kept["signature"]), _signature(key, wants))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not signed or not all(_askable(want) for want in wants):
        return []
    cache.remembered = frozenset(wants)
    return sorted(cache.remembered)


def remember(target: Host, key: bytes, wants: frozenset[Want]) -> None:
    path = _memory_file(target)
    try:
        kept = {"wants": sorted(wants), "signature": _signature(key, wants)}
        _written_aside(path, json.dumps(kept).encode()).replace(path)
    except OSError:
        pass  # (a controller whose cache cannot be written asks twice, as before)


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
