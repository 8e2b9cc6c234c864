"""Hostile names on the booted host: files planted as the users that own the directories the product
reads, and the canary that shows whether any name ran as shell text (tests/toolrun.HOSTILE)."""

from __future__ import annotations

import os
import shlex

from toolrun import HOSTILE, NOT_UTF8

# Every name as bytes (one is not UTF-8), for printf's octal escapes: no byte reaches a shell as text.
NAMES = [name.encode() for name in HOSTILE] + [NOT_UTF8]
# Where a name's payload would leave its mark if it ran: the commands' directory, or $HOME.pwn.
CANARY_FIND = r"find / -xdev \( -name canary -o -name '*.pwn' \) -print 2>/dev/null | head -5"


def _octal(name: bytes) -> str:
    return "".join(f"\\{byte:03o}" for byte in name)


def plant(target, user: str, directory: str, names: list[bytes], content: str = "") -> None:
    """Files of those ``names`` in ``directory``, made by ``user`` (as a compromised service would)."""
    made = "; ".join(f"printf %s {shlex.quote(content)} > \"$(printf '{_octal(n)}')\"" for n in names)
    target.sh(f"cd {shlex.quote(directory)} && runuser -u {user} -- sh -c {shlex.quote(made)}")


def remove(target, directory: str, names: list[bytes]) -> None:
    gone = "; ".join(f"rm -f -- \"$(printf '{_octal(n)}')\"" for n in names)
    target.sh(f"cd {shlex.quote(directory)} && sh -c {shlex.quote(gone)}")


def canaries(target) -> str:
    """What a name that ran would have made on the host (empty when none ran)."""
    return target.sh(CANARY_FIND).strip()


def legal(name: bytes) -> bool:
    """Whether the deploy can say the name back (restore.py restores it): UTF-8, no control byte."""
    try:
        text = name.decode()
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def as_text(name: bytes) -> str:
    return os.fsdecode(name)
