"""pyinfra's Results table, read back: which operations changed something (tests and bench)."""

from __future__ import annotations

import re

_ROW = re.compile(r"^\s{4}(.+?)\s{2,}1\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.M)


def operations(output: str) -> list[tuple[str, bool]]:
    """(operation name, whether it ran commands) for each row of the table, one host."""
    return [(name, success == "1") for name, success, _error, _no_change in _ROW.findall(output)]


def changed_operations(output: str) -> list[str]:
    return [name for name, changed in operations(output) if changed]
