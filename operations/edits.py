"""Files of the admin's that the deploy edits in place: directives set (clamd's scan.conf,
redis.conf, OpenLiteSpeed's server configuration) and a block kept between two marker lines (the
web UI in OpenLiteSpeed's virtual host). The rest of each file is the admin's and stays as it is;
the file as it was before the first edit is kept for remove.py.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from pyinfra import host
from pyinfra.api import OperationError

from mailguard import directives
from mailguard.blocks import replace_block
from mailguard.footprint import Footprint, RecordError
from mailguard.layout import BEFORE, FOOTPRINT, KEEP_ORIGINAL, original

from .commands import Command
from .files import install_file, leaves, owner_of, planted_link
from .hoststate import HostReads, Snapshot, operation_reading


def _not_there_yet(problem: str):
    """A file an operation edits is missing: an error when it runs; while planning, a change
    (the package that ships it is installed by an earlier operation)."""
    if host.state.is_executing:
        raise OperationError(problem)
    yield Command("true")


def _edited_wants(paths) -> list[tuple[str, str]]:
    first_edit = [("text", FOOTPRINT), ("stat", BEFORE), *(("stat", original(p)) for p in paths)]
    return [want for p in paths for want in (("text", p), ("stat", p))] + first_edit


def keep_before_first_edit(state: Snapshot, path: str) -> list[Command]:
    """Before the deploy first edits a file of the admin's in place: the file kept as it was, for
    remove.py. Only at the first edit: one the deploy made before is not the admin's version. A
    host set up by a deploy older than the footprint (no footprint, and no record of the host
    before the first run) keeps none: remove.py then says so."""
    if state.stat(original(path)):
        return []
    recorded = state.text(FOOTPRINT)
    if recorded is None:  # no footprint yet: the record of the host before is this deploy's first run
        first = state.stat(BEFORE) is not None
    else:
        try:
            first = not Footprint.from_json(recorded).lists(path)
        except RecordError:  # (said by the footprint's own operation, which writes it anew)
            first = False  # a file the deploy may have edited before is never taken for the admin's
    return [Command(KEEP_ORIGINAL, path)] if first else []


def _edited_file(
    reads: HostReads, state: Snapshot, paths, missing: str
) -> Generator[Command, None, tuple[str, str, dict] | None]:
    """The first of ``paths`` that exists, its text and its stat, for an edit in place; None when
    none exists or the one found is a planted link (said by ``planted_link``)."""
    path = next((p for p in paths if state.stat(p)), paths[0])
    current, text = state.stat(path), state.text(path)
    if planted_link(reads, current, path):
        return None
    if current is None or text is None:
        yield from _not_there_yet(f"{' or '.join(paths)} does not exist: {missing}")
        return None
    return path, text, current


@leaves("edited", lambda paths, *a, **k: paths)
@operation_reading(lambda paths, *a, **k: _edited_wants(paths))
def directives_file(
    paths: list[str],
    values: Sequence[tuple[str, Sequence[str]]],
    disabled: Sequence[str] = (),
    added: Sequence[tuple[str, str]] = (),
    backup: str | None = None,
    service: str | None = None,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """Set "Directive value" lines of an existing config file (clamd, redis) in place.

    ``paths``: where the file may be (packages differ); the first that exists is edited.
    ``values``: (directive, its values); ``disabled``: directives commented out; ``added``:
    (directive, value) lines added where missing. ``service``: the one that reads the file,
    where it is not ``backup`` (the footprint names it, for remove.py).
    """
    found = yield from _edited_file(reads, state, paths, "is its package installed?")
    if found is None:
        return
    path, text, current = found
    wanted = directives.edit(text, values, disabled, added)
    if wanted == text:
        host.noop(f"{path} already has the wanted directives")
        return
    yield from keep_before_first_edit(state, path)
    yield from install_file(wanted, path, owner_of(current), backup=backup)


@leaves("blocks", lambda path, begin, end, *a, **k: [(path, begin, end)])
@operation_reading(lambda path, *a, **k: _edited_wants([path]))
def marked_block(
    path: str,
    begin: str,
    end: str,
    content: str,
    missing: str,
    backup: str | None = None,
    *,
    reads: HostReads,
    state: Snapshot,
):
    """A block between two marker lines in a file the admin also edits (the rest is kept).

    ``missing``: what to tell the admin when the file does not exist.
    """
    found = yield from _edited_file(reads, state, [path], missing)
    if found is None:
        return
    path, text, current = found
    wanted = replace_block(text, begin, end, content)
    if wanted == text:
        host.noop(f"{path}: the managed block is in place")
        return
    yield from keep_before_first_edit(state, path)
    yield from install_file(wanted, path, owner_of(current), backup=backup)
