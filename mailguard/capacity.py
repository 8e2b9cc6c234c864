"""What the host must have before anything changes: memory for clamd, disk, in plain rules."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024 * 1024  # KiB
CLAMD_NEEDS_KIB = int(1.2 * GIB)  # clamd while loading the full signature database
ROOMY_KIB = 2 * GIB  # below this, a second database copy during reload does not fit
MIN_FREE_DISK_KIB = {True: 1 * GIB, False: 256 * 1024}  # by antivirus: signatures take ~0.5 GiB


@dataclass(frozen=True)
class Verdict:
    refuse: str | None = None  # why the deploy must not start
    warnings: tuple[str, ...] = ()
    clamd_concurrent_reload: bool = True  # False: ConcurrentDatabaseReload no


def _gib(kib: int) -> str:
    return f"{kib / GIB:.1f} GiB"


def assess(mem_kib: int | None, swap_kib: int | None, disk_free_kib: int | None, antivirus: bool) -> Verdict:
    warnings = []
    refuse = None
    concurrent = True
    swap_kib = swap_kib or 0
    if antivirus and mem_kib is not None and mem_kib < ROOMY_KIB:
        concurrent = False
        warnings.append(
            f"memory: {_gib(mem_kib)} is below 2 GiB: clamd gets ConcurrentDatabaseReload no "
            "(it pauses scanning while it reloads signatures instead of holding two copies)"
        )
        if mem_kib < CLAMD_NEEDS_KIB:
            if swap_kib:
                warnings.append(
                    f"memory: {_gib(mem_kib)} is below the {_gib(CLAMD_NEEDS_KIB)} clamd needs to load its "
                    f"signatures; going on because {_gib(swap_kib)} of swap is present (expect slow reloads)"
                )
            else:
                refuse = (
                    f"memory: {_gib(mem_kib)} and no swap, but clamd needs about {_gib(CLAMD_NEEDS_KIB)} to load "
                    "its signatures: add swap, add memory, or set antivirus = false"
                )
    needed = MIN_FREE_DISK_KIB[antivirus]
    if refuse is None and disk_free_kib is not None and disk_free_kib < needed:
        refuse = f"disk: {_gib(disk_free_kib)} free on /var, at least {_gib(needed)} needed"
    return Verdict(refuse, tuple(warnings), concurrent)
