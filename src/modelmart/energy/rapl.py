"""RAPL (Running Average Power Limit) energy counters, as Linux's powercap exposes them.

Each CPU package is a zone ``intel-rapl:N`` under ``/sys/class/powercap`` whose ``energy_uj``
counts microjoules since an arbitrary start and wraps to zero after ``max_energy_range_uj``.
Only package zones are read: their subzones (``intel-rapl:N:M``: cores, uncore, DRAM on some
parts) are already part of the package's count, or not part of the CPU. Since 2020 kernels
let only root read the counters, so most servers fall back to the CPU-time estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_POWERCAP = Path("/sys/class/powercap")
_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")


@dataclass(frozen=True)
class RaplZone:
    """One package's counter: where it is and the value it wraps at."""

    energy_file: Path
    wraps_at_uj: int


class RaplReader:
    """Reads the package counters of one powercap directory."""

    def __init__(self, zones: tuple[RaplZone, ...]) -> None:
        if not zones:
            raise ValueError("a RAPL reader needs at least one package zone")
        self.zones = zones

    @classmethod
    def open(cls, powercap: Path = DEFAULT_POWERCAP) -> RaplReader | None:
        """The reader of ``powercap``'s package zones, or None when there are none or one of
        them cannot be read (no RAPL, or not allowed to read it)."""
        try:
            names = sorted(p.name for p in powercap.iterdir() if _PACKAGE_ZONE.fullmatch(p.name))
        except OSError:
            return None
        zones = []
        for name in names:
            zone = powercap / name
            try:
                wraps_at = int((zone / "max_energy_range_uj").read_text()) + 1
                int((zone / "energy_uj").read_text())  # readable now, so readable later
            except (OSError, ValueError):
                return None
            zones.append(RaplZone(zone / "energy_uj", wraps_at))
        return cls(tuple(zones)) if zones else None

    def read(self) -> tuple[int, ...]:
        """Every package's counter now, in microjoules."""
        return tuple(int(zone.energy_file.read_text()) for zone in self.zones)

    def used_uj(self, before: tuple[int, ...], after: tuple[int, ...]) -> int:
        """Microjoules the packages used between two readings, across a wrap of a counter
        (assumed to wrap at most once between them: hours apart at full power)."""
        total = 0
        for zone, first, last in zip(self.zones, before, after, strict=True):
            total += last - first if last >= first else zone.wraps_at_uj - first + last
        return total
