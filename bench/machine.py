"""Facts about the machine, and how much CPU other programs took while a measurement ran.

The benchmark shares its cores with whatever else runs (a test suite, an editor). Reading
``/proc`` before and after each run tells how busy the machine was and how much of that was
the benchmark itself (its server's process session, wrk and this process); the rest is noise.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def cpu_model() -> str:
    cpuinfo = _PROC / "cpuinfo"
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _busy_seconds() -> float:
    """CPU time every core spent on anything but idling, since boot."""
    fields = (_PROC / "stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS_PER_S


def _session_seconds(session: int) -> float:
    """CPU time of the live processes of ``session`` (the server and its workers)."""
    total = 0
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # exited while we looked
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS_PER_S


def _pid_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # already gone
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS_PER_S


def _own_seconds() -> float:
    """CPU time of this process and of its finished children (the wrk runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuSample:
    at: float
    busy_s: float
    ours_s: float


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy during a span: by the benchmark, and by everything else (noise)."""

    ours: float
    others: float


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    wall_s = after.at - before.at
    if wall_s <= 0:
        return CpuUse(0.0, 0.0)
    ours = (after.ours_s - before.ours_s) / wall_s
    others = (after.busy_s - before.busy_s) / wall_s - ours
    return CpuUse(ours, max(others, 0.0))


@dataclass
class NoiseMeter:
    """Waits for a quiet machine before each timed run, and tells how noisy the run was.

    ``quiet_below`` is in busy cores; ``wait_budget_s`` bounds the waiting over the whole
    benchmark, so a machine that never calms down delays it by that much at most.
    """

    quiet_below: float
    wait_budget_s: float
    server_session: int | None = None
    waited_s: float = 0.0

    def settle(self) -> None:
        """Wait, within what is left of the budget, until other programs keep fewer than
        ``quiet_below`` cores busy (the benchmark's own processes do not count)."""
        started = time.monotonic()
        left = self.wait_budget_s - self.waited_s
        others = self._others_over(0.5)
        if others >= self.quiet_below and left > 0:
            print(f"    waiting for other programs ({others:.1f} cores busy)", flush=True)
        while others >= self.quiet_below and time.monotonic() - started < left:
            others = self._others_over(1.0)
        self.waited_s += time.monotonic() - started

    def _others_over(self, window_s: float) -> float:
        before = self.sample()
        time.sleep(window_s)
        return cpu_use(before, self.sample()).others

    def sample(self, pids: Iterable[int] = ()) -> CpuSample:
        """A reading of the machine and of the benchmark's processes: this one, its finished
        children, the server's session and ``pids`` (children still running)."""
        ours = _own_seconds() + _pid_seconds(pids)
        if self.server_session is not None:
            ours += _session_seconds(self.server_session)
        return CpuSample(time.monotonic(), _busy_seconds(), ours)
