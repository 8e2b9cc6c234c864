"""A block of lines between two marker lines, kept by the deploy in a file the admin also edits."""

from __future__ import annotations


def replace_block(text: str, begin: str, end: str, content: str) -> str:
    """``text`` with the lines between ``begin`` and ``end`` (markers included) set to ``content``;
    appended when the markers are not there yet."""
    block = f"{begin}\n{content.rstrip()}\n{end}\n"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == begin]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == end]
    if starts and ends and ends[0] > starts[0]:
        return "".join(lines[: starts[0]]) + block + "".join(lines[ends[0] + 1 :])
    separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + separator + block


def without_block(text: str, begin: str, end: str) -> str | None:
    """``text`` with the block between the ``begin`` and ``end`` lines (markers included) taken out,
    with the blank line ``replace_block`` put before it when it appended it; None when there is no
    block."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == begin]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == end]
    if not starts or not ends or ends[0] < starts[0]:
        return None
    head, tail = lines[: starts[0]], lines[ends[0] + 1 :]
    if not tail and head and head[-1] == "\n":
        head = head[:-1]
    return "".join(head + tail)


def block_body(text: str, begin: str, end: str) -> str | None:
    """The lines between the markers, or None when there is no block."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == begin]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == end]
    if not starts or not ends or ends[0] < starts[0]:
        return None
    return "".join(lines[starts[0] + 1 : ends[0]])
