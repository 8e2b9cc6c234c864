"""What the deploy put on a host, and what the host had before it: the two records remove.py
reads to put a server back.

Both live in the deploy's root-only state directory and are written by the deploy itself:

- the footprint (``layout.FOOTPRINT``), every run: each file its operations write whole, each file
  of the admin's they edit in place, each block they keep in an admin's file, and the map files
  (admin data, which remove.py leaves);
- what the host had (``layout.BEFORE``), once, on the first run on a host the deploy has not set up
  (a fresh one, or one remove.py gave back): whether each unit the deploy runs was enabled and
  running, and the Postfix parameters the deploy sets, as main.cf and master.cf had them.

They are read back strictly: a record that does not parse is an error naming it, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


class RecordError(ValueError):
    pass


def _path(value: object, what: str) -> str:
    """An absolute, normalised path with no control character, or RecordError."""
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or any(ord(c) < 32 or c == "\x7f" for c in value)
        or any(part in ("", ".", "..") for part in value.split("/")[1:])
    ):
        raise RecordError(f"{what}: {value!r} is not an absolute path")
    return value


def _line(value: object, what: str) -> str:
    if not isinstance(value, str) or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise RecordError(f"{what}: {value!r} is not one line of text")
    return value


def _load(text: str, what: str, keys: set[str]) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        raise RecordError(f"{what} is not JSON") from None
    if not isinstance(data, dict) or set(data) != keys:
        raise RecordError(f"{what} does not hold {', '.join(sorted(keys))}")
    return data


@dataclass(frozen=True)
class Footprint:
    """Each file with the service that reads it (None: a tool, a unit file, a repository)."""

    whole: dict[str, str | None] = field(default_factory=dict)  # written whole: the deploy's mark first
    edited: dict[str, str | None] = field(default_factory=dict)  # the admin's, directives edited in place
    blocks: dict[tuple[str, str, str], str | None] = field(default_factory=dict)  # (path, first, last line)
    maps: tuple[str, ...] = ()  # map files: their entries are the admin's

    def to_json(self) -> str:
        data: dict[str, object] = {"whole": self.whole, "edited": self.edited, "maps": list(self.maps)}
        data["blocks"] = [[*block, service] for block, service in self.blocks.items()]
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, what: str = "the footprint") -> Footprint:
        data = _load(text, what, {"whole", "edited", "blocks", "maps"})
        tables: dict[str, dict[str, str | None]] = {}
        for kind in ("whole", "edited"):
            if not isinstance(data[kind], dict):
                raise RecordError(f"{what}: {kind} is not a table")
            tables[kind] = {_path(p, f"{what}: {kind}"): _service(s, what) for p, s in data[kind].items()}
        if not isinstance(data["maps"], list):
            raise RecordError(f"{what}: maps is not a list")
        blocks = {}
        for block in data["blocks"] if isinstance(data["blocks"], list) else [None]:
            if not isinstance(block, list) or len(block) != 4:
                raise RecordError(f"{what}: a block is not (path, first line, last line, service)")
            item = (_path(block[0], f"{what}: blocks"), _line(block[1], what), _line(block[2], what))
            blocks[item] = _service(block[3], what)
        return cls(blocks=blocks, maps=tuple(_path(p, f"{what}: maps") for p in data["maps"]), **tables)

    def merged(self, other: Footprint) -> Footprint:
        """Everything either lists, in order (``other``'s services win)."""
        return Footprint(
            {**self.whole, **other.whole},
            {**self.edited, **other.edited},
            {**self.blocks, **other.blocks},
            tuple(dict.fromkeys([*self.maps, *other.maps])),
        )

    def lists(self, path: str) -> bool:
        """Whether the deploy has edited ``path`` (directives or a block) before."""
        return path in self.edited or any(path == block[0] for block in self.blocks)


def _service(value: object, what: str) -> str | None:
    if value is not None and not (isinstance(value, str) and value.isidentifier()):
        raise RecordError(f"{what}: {value!r} is not a service's name")
    return value


@dataclass
class FootprintNotes:
    """A run's footprint as its operations are planned (kept on the host's reads, in order)."""

    whole: dict[str, str | None] = field(default_factory=dict)
    edited: dict[str, str | None] = field(default_factory=dict)
    blocks: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    maps: dict[str, str | None] = field(default_factory=dict)

    def footprint(self) -> Footprint:
        return Footprint(dict(self.whole), dict(self.edited), dict(self.blocks), tuple(self.maps))


@dataclass(frozen=True)
class Unit:
    enabled: bool
    running: bool


@dataclass(frozen=True)
class Before:
    """What the host had before the deploy's first run."""

    units: dict[str, Unit]  # each unit the deploy runs
    main: dict[str, str | None]  # main.cf parameters the deploy sets: their value there, None if unset
    master: dict[str, str | None]  # "service/type/parameter" -o values of master.cf, None if unset

    def to_json(self) -> str:
        units = {unit: {"enabled": u.enabled, "running": u.running} for unit, u in self.units.items()}
        return json.dumps({"units": units, "main": self.main, "master": self.master}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, what: str = "the record of the host before the deploy") -> Before:
        data = _load(text, what, {"units", "main", "master"})
        units = {}
        for unit, state in (data["units"] if isinstance(data["units"], dict) else {None: None}).items():
            if not isinstance(state, dict) or set(state) != {"enabled", "running"}:
                raise RecordError(f"{what}: unit {unit!r} is not (enabled, running)")
            if not all(isinstance(v, bool) for v in state.values()):
                raise RecordError(f"{what}: unit {unit!r} is not (enabled, running)")
            units[_line(unit, what)] = Unit(state["enabled"], state["running"])
        parameters: dict[str, dict[str, str | None]] = {}
        for kind in ("main", "master"):
            if not isinstance(data[kind], dict):
                raise RecordError(f"{what}: {kind} is not a table")
            parameters[kind] = {
                _line(name, what): None if value is None else _line(value, f"{what}: {name}")
                for name, value in data[kind].items()
            }
        return cls(units=units, **parameters)
