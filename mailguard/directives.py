"""Edit "Directive value" configuration files (clamd.conf, scan.conf, redis.conf) in place.

The edit is a pure function of the file's text, so it can be tested on stock files and
applied idempotently: editing an edited file returns it unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _split(line: str) -> tuple[str, str] | None:
    parts = line.strip().split(None, 1)
    if not parts:
        return None
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def _active(line: str, key: str) -> str | None:
    """The value of an active ``key`` line, else None."""
    if key not in line or line.lstrip().startswith("#"):
        return None
    split = _split(line)
    if split and split[0] == key:
        return split[1]
    return None


def _commented(line: str, key: str) -> str | None:
    """The value of a commented-out ``key`` line (``#Key value`` or ``# key value``), else None."""
    if key not in line:
        return None
    match = re.match(r"^\s*#\s?(\S+)(?:\s+(.*?))?\s*$", line)
    if match and match.group(1) == key:
        return match.group(2) or ""
    return None


def edit(
    text: str,
    settings: Iterable[tuple[str, Iterable[str]]],
    disabled: Iterable[str] = (),
    added: Iterable[tuple[str, str]] = (),
) -> str:
    """Make each directive in ``settings`` active with exactly its values, comment out ``disabled``;
    ``added``: (directive, value) lines made active beside the directive's other values (an admin's
    own ``include`` lines stay).

    A wanted value that stands commented out is uncommented where it stands (the first such
    line); otherwise it is added after the last line that mentions the directive, or at the end.
    Active lines of the directive with other values, and repeated ones, are commented out.
    """
    lines = text.splitlines()
    settings = [*settings, *((key, [*dict.fromkeys([*active_values(text, key), value])]) for key, value in added)]
    for key, values in settings:
        values = list(values)
        seen: set[str] = set()
        # Only the lines that contain the key can be about it (redis.conf has 2 300 lines).
        about = [i for i, line in enumerate(lines) if key in line]
        for i in about:
            value = _active(lines[i], key)
            if value is None:
                continue
            if value in values and value not in seen:
                seen.add(value)
            else:
                lines[i] = "#" + lines[i]
        for value in values:
            if value in seen:
                continue
            wanted = f"{key} {value}" if value else key
            for i in about:
                if _commented(lines[i], key) == value:
                    lines[i] = wanted
                    break
            else:
                mentions = [
                    i for i in about if _commented(lines[i], key) is not None or _active(lines[i], key) is not None
                ]
                position = mentions[-1] + 1 if mentions else len(lines)
                lines.insert(position, wanted)
                about = [j + (j >= position) for j in about] + [position]  # (indices after it moved down)
                about.sort()
            seen.add(value)
    for key in disabled:
        for i, line in enumerate(lines):
            if _active(line, key) is not None:
                lines[i] = "#" + line
    return "\n".join(lines) + "\n"


def active_values(text: str, key: str) -> list[str]:
    return [v for v in (_active(line, key) for line in text.splitlines()) if v is not None]


def postfix_list(value: str | None) -> list[str]:
    """The items of a Postfix list parameter (smtpd_milters): separated by commas or whitespace."""
    return [item for item in re.split(r"[\s,]+", value or "") if item]
