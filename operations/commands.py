"""Remote commands as data: a program and its arguments, each argument quoted here and nowhere else.

Root runs what the deploy sends. A value (a path, a user or folder name, a file name read from a
directory another user owns) must never become shell text, so no command is built by formatting:
an operation yields ``Command(program, *arguments)``, and logic that needs more than one program
on the host is a script under ``templates/tools/`` run with ``script(name, *arguments)``, which
receives every value as a positional parameter. The test double reads ``Command.argv`` rather than
parse shell.

    >>> Command("mv", "-fT", "/etc/a b", "/etc/c").get_raw_value()
    "mv -fT '/etc/a b' /etc/c"
"""

from __future__ import annotations

import functools
from pathlib import Path

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.hiddenvalue import HiddenValue

TOOLS_SOURCE = Path(__file__).resolve().parent.parent / "templates" / "tools"


class Command(StringCommand):
    """``argv[0]`` run with ``argv[1:]``, every word quoted (pyinfra's QuoteString)."""

    def __init__(self, *argv: str | int, **connector_arguments) -> None:
        self.argv: tuple[str, ...] = tuple(_word(value) for value in argv)
        self.script: str | None = None  # the templates/tools script this runs, if any
        super().__init__(*(QuoteString(word) for word in self.argv), **connector_arguments)


def _word(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"a command's word must be a string or a number, not {value!r}")
    return str(value)


@functools.cache
def script_text(name: str) -> str:
    """The text of ``templates/tools/<name>.sh``: read as it is, never formatted."""
    return (TOOLS_SOURCE / f"{name}.sh").read_text()


def script(name: str, *arguments: str | int) -> Command:
    """``templates/tools/<name>.sh`` run by the host's sh with ``arguments`` as "$1", "$2", ...

    The script's text is shown as ``<name>.sh`` in pyinfra's output (it is long, and the same on
    every host); what is run is the whole text.
    """
    command = Command("sh", "-c", script_text(name), f"mailguard-{name}", *arguments)
    command.script = name
    hidden = HiddenValue(script_text(name), masked_value=f"<{name}.sh>")
    command.bits = (command.bits[0], command.bits[1], QuoteString(hidden), *command.bits[3:])
    return command


def arguments_of(command: Command) -> tuple[str, ...]:
    """What a script or program was given: the words after ``sh -c TEXT NAME`` or after the program."""
    return command.argv[4:] if command.script else command.argv[1:]
