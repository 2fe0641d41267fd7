"""Measuring what one batch of a model costs, in whole microjoules.

A :class:`Meter` is read before and after the model call, in the worker that makes it:

* :class:`RaplMeter`: the CPU packages' energy counters (:mod:`modelmart.energy.rapl`). They
  count the whole machine, so batches that overlap on other instances are each charged the
  energy of both: a measurement of what the machine used while the batch ran, not an
  attribution.
* :class:`CpuTimeMeter`: an estimate, the CPU time the batch took x the power figure of one
  busy core (``MODELMART_CPU_WATTS_PER_CORE``). Its clock is the process's CPU time in a
  worker process (the model's own threads included), or the calling thread's CPU time in the
  server's process, where other requests' work shares the process.
* :class:`NoMeter`: accounting switched off (``MODELMART_ENERGY_ACCOUNTING=false``), 0 J.

:class:`EnergySetup` says which one and travels to worker processes (it pickles).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from modelmart.energy.rapl import DEFAULT_POWERCAP, RaplReader

MICROJOULES_PER_JOULE = 1_000_000
JOULES_PER_KWH = 3_600_000

CpuClock = Callable[[], float]
"""Seconds of CPU time so far (``time.process_time`` or ``time.thread_time``)."""


class EnergyMethod(StrEnum):
    """How energy per request is obtained; named in every response's ``usage``."""

    RAPL = "rapl"
    CPU_TIME = "cpu-time-estimate"
    OFF = "off"


def cpu_time_description(watts_per_core: float) -> str:
    """What the CPU-time estimate is, in words (model cards use the same wording)."""
    return f"estimated from CPU time x {watts_per_core:g} W per core"


class Meter(ABC):
    """Read before and after the work it measures, on the thread that does it."""

    method: EnergyMethod

    @abstractmethod
    def start(self) -> object:
        """The reading before the work."""

    @abstractmethod
    def stop(self, started: object) -> int:
        """Microjoules used since ``started`` (a reading of this meter)."""


class CpuTimeMeter(Meter):
    method = EnergyMethod.CPU_TIME

    def __init__(self, watts_per_core: float, clock: CpuClock = time.process_time) -> None:
        self._microwatts = watts_per_core * MICROJOULES_PER_JOULE
        self._clock = clock

    def start(self) -> object:
        return self._clock()

    def stop(self, started: object) -> int:
        assert isinstance(started, float)
        return max(0, round((self._clock() - started) * self._microwatts))


class RaplMeter(Meter):
    method = EnergyMethod.RAPL

    def __init__(self, reader: RaplReader) -> None:
        self._reader = reader

    def start(self) -> object:
        return self._reader.read()

    def stop(self, started: object) -> int:
        assert isinstance(started, tuple)
        return self._reader.used_uj(started, self._reader.read())


class NoMeter(Meter):
    method = EnergyMethod.OFF

    def start(self) -> object:
        return None

    def stop(self, started: object) -> int:
        return 0


@dataclass(frozen=True)
class EnergySetup:
    """How this server's workers measure energy, and how it is reported.

    ``method`` is decided once, in the server (:func:`energy_setup`); ``grid_g_per_kwh`` set
    adds grams of CO2-equivalent to every usage.
    """

    method: EnergyMethod = EnergyMethod.CPU_TIME
    watts_per_core: float = 10.0
    powercap: Path = DEFAULT_POWERCAP
    grid_g_per_kwh: float | None = None

    def meter(self, cpu_clock: CpuClock = time.process_time) -> Meter:
        """The meter a worker reads; ``cpu_clock`` is its CPU time for the estimate."""
        if self.method is EnergyMethod.OFF:
            return NoMeter()
        if self.method is EnergyMethod.RAPL:
            reader = RaplReader.open(self.powercap)
            if reader is not None:
                return RaplMeter(reader)
        return CpuTimeMeter(self.watts_per_core, cpu_clock)

    def description(self) -> str:
        if self.method is EnergyMethod.RAPL:
            return f"measured from the CPU packages' RAPL energy counters under {self.powercap}"
        if self.method is EnergyMethod.OFF:
            return "energy accounting is switched off: every request reports 0 J"
        return cpu_time_description(self.watts_per_core)

    def co2e_grams(self, microjoules: int) -> float | None:
        """Grams of CO2-equivalent for ``microjoules`` at the grid's intensity, if set."""
        if self.grid_g_per_kwh is None:
            return None
        return microjoules / MICROJOULES_PER_JOULE / JOULES_PER_KWH * self.grid_g_per_kwh


def energy_setup(
    *,
    enabled: bool,
    watts_per_core: float,
    grid_g_per_kwh: float | None = None,
    powercap: Path = DEFAULT_POWERCAP,
) -> EnergySetup:
    """RAPL where this process can read it, else the CPU-time estimate (or off)."""
    if not enabled:
        method = EnergyMethod.OFF
    elif RaplReader.open(powercap) is not None:
        method = EnergyMethod.RAPL
    else:
        method = EnergyMethod.CPU_TIME
    return EnergySetup(method, watts_per_core, powercap, grid_g_per_kwh)


def joules(microjoules: int) -> float:
    """Microjoules as joules: the float's shortest form is the exact decimal (below 2**53)."""
    return microjoules / MICROJOULES_PER_JOULE
