"""``HostContext``: one host of the run as every step of the deploy sees it.

Built once per host by ``prepare`` (the preflight), from the settings, the system profile, the
platform it names and the DKIM key states, and passed down to every step as its argument. Nothing
below keeps it: a step that needs other key states (a rotation's next stage, a restored backup's)
is given ``ctx.with_key_states(...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyinfra.api.host import Host

from mailguard import dkim
from mailguard.platforms import Platform
from mailguard.settings import Settings

from .hoststate import HostReads
from .run import Run, run_of


@dataclass(frozen=True)
class HostContext:
    target: Host  # the pyinfra host
    settings: Settings  # validated; each domain's selector as the host signs with it (with_key_states)
    platform: Platform
    system: dict = field(repr=False)  # the system profile (facts.SystemProfile), read before any change
    reads: HostReads = field(repr=False)  # the host's state, read for the operations (hoststate.py)
    key_states: Mapping[str, dkim.KeyState] = field(default_factory=dict)  # each domain's DKIM keys

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def run(self) -> Run:
        return run_of(self.target.state)

    def with_key_states(self, states: Mapping[str, dkim.KeyState]) -> HostContext:
        """This host planned with ``states``: the settings sign each domain with its state's key
        (after a rotation that is no longer the configured selector, and the deploy never undoes it)."""
        return dataclasses.replace(self, key_states=states, settings=dkim.with_host_selectors(self.settings, states))
