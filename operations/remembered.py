"""What the controller keeps of each host between runs: the questions the last run asked it, and
status.py's readings of rspamd's counters (the day's counts are their difference).

Kinds and paths only, never what the host answered: the next run asks them with the system profile,
so a no-op rerun is one remote command. They are signed with a random key kept beside them, never
one derived from a password (a file that a fast hash of the password verifies would let anyone who
copies it guess the password far faster than rspamd's PBKDF2 allows): a file this controller did
not write is never asked of the host. Only a speed-up: an operation still decides on answers to
what it reads, asked before anything ran.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from pyinfra.api.host import Host

from . import readhost

Want = readhost.Want


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


def _memory_file(target: Host, kind: str = "questions") -> Path:
    return memory_dir() / f"{kind}-{hashlib.sha256(target.name.encode()).hexdigest()[:16]}.json"


def _signature(key: bytes, wants) -> str:
    return hmac.new(key, json.dumps(sorted(wants)).encode(), "sha256").hexdigest()


READINGS_KEPT = 64  # status.py's readings of one host's counters: enough for a week of hourly runs


def recall_readings(target: Host, key: bytes | None) -> list[list[int]]:
    """status.py's earlier readings of ``target``'s counters, [time, scanned, spam, greylisted] each,
    when this controller kept them with ``key`` (none when missing, not signed by it, or malformed)."""
    if key is None:
        return []
    try:
        kept = json.loads(_memory_file(target, "counters").read_text())
        readings = kept["readings"]
        signed = hmac.compare_digest(str(kept["signature"]), _signature(key, readings))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    well_formed = isinstance(readings, list) and all(
        isinstance(r, list) and len(r) == 4 and all(type(n) is int and n >= 0 for n in r) for r in readings
    )
    return readings if signed and well_formed else []


def remember_reading(target: Host, key: bytes | None, reading: list[int]) -> None:
    if key is None:
        return
    readings = [*recall_readings(target, key), reading][-READINGS_KEPT:]
    path = _memory_file(target, "counters")
    try:
        kept = {"readings": readings, "signature": _signature(key, readings)}
        _written_aside(path, json.dumps(kept).encode()).replace(path)
    except OSError:
        pass


_ARGUMENT = re.compile(r"[^\0\n]{1,4096}\Z")
_PATTERN = re.compile(r"[A-Za-z0-9_./*+@:-]+\Z")  # what a remembered glob may be: the deploy's own patterns


def askable(want) -> bool:
    """Whether a remembered question is of a form the deploy asks: a known kind, an argument with
    no newline or NUL (every argument reaches the host as one quoted word), a glob of plain words."""
    if not (isinstance(want, tuple) and len(want) == 2 and all(isinstance(part, str) for part in want)):
        return False
    kind, arg = want
    if kind not in readhost.KINDS or kind == "sha256" or not _ARGUMENT.match(arg):
        return False
    return kind != "glob" or bool(_PATTERN.match(arg))


def recall(target: Host, key: bytes | None) -> frozenset[Want]:
    """The questions the last run asked ``target``, when this controller kept them with ``key``
    (none when the file is missing, not signed by this key, or holds a question of no known form)."""
    if key is None:
        return frozenset()
    try:
        kept = json.loads(_memory_file(target).read_text())
        wants = [tuple(pair) for pair in kept["wants"]]
        signed = hmac.compare_digest(str(kept["signature"]), _signature(key, wants))
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()
    if not signed or not all(askable(want) for want in wants):
        return frozenset()
    return frozenset(wants)


def remember(target: Host, key: bytes, wants: frozenset[Want]) -> None:
    path = _memory_file(target)
    try:
        kept = {"wants": sorted(wants), "signature": _signature(key, wants)}
        _written_aside(path, json.dumps(kept).encode()).replace(path)
    except OSError:
        pass  # (a controller whose cache cannot be written asks twice, as before)
