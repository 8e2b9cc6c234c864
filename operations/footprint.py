"""The deploy's two records for remove.py (mailguard/footprint.py): what the host had before the
deploy's first run on it, and what each run writes."""

from __future__ import annotations

from pyinfra import host

from mailguard.footprint import Before, Footprint, RecordError, Unit
from mailguard.layout import BEFORE, FENCE_UNIT, FOOTPRINT, RSPAMD_CHECK, SENTINEL_UNIT, TUNNEL_UNIT

from .activate import filter_units
from .context import HostContext
from .files import install_file
from .hoststate import HostReads, Snapshot, operation_reading
from .postfix import MAIN_VALUES, MILTER_LISTS, SUBMISSION_SERVICES, SUBMISSION_VALUES
from .rspamd import DMARC_REPORT_TIMER


def own_units(ctx: HostContext) -> list[str]:
    """The units the deploy enables and runs (the admin's Postfix, Dovecot and proxy it only reloads);
    a group's fence, tunnel and sentinel among them on every host, as a host may join a group after
    its first run."""
    return [*filter_units(ctx), DMARC_REPORT_TIMER, FENCE_UNIT, TUNNEL_UNIT, SENTINEL_UNIT]


def master_keys() -> list[str]:
    """The master.cf -o parameters the deploy sets, as "service/type/parameter"."""
    return [f"{service}/{name}" for service in SUBMISSION_SERVICES for name in SUBMISSION_VALUES]


def _before_wants(units: list[str], *a, **k) -> list[tuple[str, str]]:
    main = [("setting", name) for name in [*MAIN_VALUES, *MILTER_LISTS]]
    return [("stat", RSPAMD_CHECK), ("stat", FOOTPRINT), ("stat", BEFORE), ("master", "params"), *main] + [
        ("unit", unit) for unit in units
    ]


@operation_reading(_before_wants)
def before_first_run(units: list[str], *, state: Snapshot):
    """What the host had, recorded once: on a host no deploy has set up (neither the deploy's tools
    nor its footprint are there, as on a fresh host or one remove.py gave back). The first
    operation of a run, so that it reads the host before anything changed."""
    if state.stat(BEFORE) or state.stat(RSPAMD_CHECK) or state.stat(FOOTPRINT):
        host.noop("the host before the deploy is on record, or was not seen (an older deploy set it up)")
        return
    record = Before(
        units={unit: Unit(state.unit(unit)["enabled"], state.unit(unit)["running"]) for unit in units},
        main={name: state.setting(name) for name in [*MAIN_VALUES, *MILTER_LISTS]},
        master={key: state.master_param(*key.rsplit("/", 1)) for key in master_keys()},
    )
    yield from install_file(record.to_json(), BEFORE, ("root", "root", 600))


def record_before(ctx: HostContext) -> None:
    before_first_run(name="The host before the deploy, recorded once", units=own_units(ctx), reads=ctx.reads)


@operation_reading(lambda footprint, *a, **k: [("text", FOOTPRINT), ("stat", FOOTPRINT)])
def footprint_file(footprint: Footprint, *, reads: HostReads, state: Snapshot):
    """``footprint`` added to what the host's footprint already lists: everything any run wrote
    there (a run whose check failed and was rolled back included: remove.py skips what is gone)."""
    recorded = state.text(FOOTPRINT)
    try:
        merged = Footprint.from_json(recorded).merged(footprint) if recorded is not None else footprint
    except RecordError as error:
        reads.warn_once(f"{FOOTPRINT}: {error}: written anew from this run")
        merged = footprint
    text = merged.to_json()
    if recorded == text and state.stat(FOOTPRINT):
        host.noop(f"{FOOTPRINT} lists what the deploy wrote")
        return
    yield from install_file(text, FOOTPRINT, ("root", "root", 600))


def record_footprint(ctx: HostContext) -> None:
    """What this run's operations write, planned so far: called once every file is planned."""
    footprint_file(
        name="What the deploy wrote, for remove.py", footprint=ctx.reads.footprint.footprint(), reads=ctx.reads
    )
