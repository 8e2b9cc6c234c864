"""The grammars of names that come from outside the deploy's own code: settings, a backup's file
names and DKIM states, Dovecot's users. A name that fails one is refused in one line that names it,
before anything changes. A name that passes reaches the host only as one quoted argument, so a
legal but strange one (spaces, $, backticks, quotes, UTF-8, a leading -) works as itself.
"""

from __future__ import annotations

import re

LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"(?:{LABEL}\.)+[a-z][a-z0-9-]{{0,62}}")
SELECTOR_RE = re.compile(rf"{LABEL}(?:\.{LABEL})*")
# A DKIM key file as the deploy, rspamd's wizard and a rotation name them: <domain>.<selector>.key,
# <domain>.<selector>.retired-<date>.key
KEY_FILE_RE = re.compile(r"[a-z0-9][a-z0-9.-]{0,250}\.key")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def text_problem(name: str) -> str | None:
    """Why ``name`` cannot be said back to the admin faithfully, in a few words: empty, over 255
    bytes, bytes that are not UTF-8 (decoded as surrogates), a control character; else None."""
    if not name:
        return "empty"
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        return "longer than 255 bytes"
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in name):
        return "not UTF-8"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a control character in it"
    return None


def file_name_problem(name: str) -> str | None:
    """Why ``name`` (one path component from outside: a map file in a backup) cannot be used, in a
    few words; None when it can. Any byte a file name may hold is legal but those ``text_problem``
    refuses."""
    if name in (".", ".."):
        return "not a file name"
    if "/" in name:
        return "a / in it"
    return text_problem(name)


def path_problem(path: str) -> str | None:
    """Why ``path`` (a file an admin's configuration names: OpenDKIM's KeyTable) cannot be read or
    copied by the deploy, in a few words; None when it can: absolute, no . or .. step, and sayable."""
    if not path.startswith("/"):
        return "not an absolute path"
    if any(step in (".", "..") for step in path.split("/")):
        return "a . or .. step in it"
    return text_problem(path)


_SHA256SUM_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def sha256sum_line(line: str) -> tuple[str, str]:
    """(name, digest) of one line as sha256sum writes it: a name with a backslash or a newline in it
    is escaped, and its line starts with a backslash. ValueError for a line of another form."""
    escaped = line.startswith("\\")
    body = line[1:] if escaped else line
    digest, separator, name = body[:64], body[64:66], body[66:]
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or separator not in ("  ", " *") or not name:
        raise ValueError("sha256sum line is not of its form")
    if escaped:
        try:
            name = re.sub(r"\\(.)", lambda m: _SHA256SUM_ESCAPES[m.group(1)], name, flags=re.S)
        except KeyError:
            raise ValueError("sha256sum line has an unknown escape") from None
    return name, digest
