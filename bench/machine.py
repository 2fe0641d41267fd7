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


def _own_seconds() -> float:
    """CPU time of this process and of its finished children (the wrk runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuSample:
    busy_s: float
    ours_s: float


@dataclass(frozen=True)
class CpuUse:
    """Cores kept busy during a span: by the benchmark, and by everything else."""

    ours: float
    others: float


def sample(server_session: int | None) -> CpuSample:
    ours = _own_seconds()
    if server_session is not None:
        ours += _session_seconds(server_session)
    return CpuSample(_busy_seconds(), ours)


def cpu_use(before: CpuSample, after: CpuSample, wall_s: float) -> CpuUse:
    if wall_s <= 0:
        return CpuUse(0.0, 0.0)
    ours = (after.ours_s - before.ours_s) / wall_s
    others = (after.busy_s - before.busy_s) / wall_s - ours
    return CpuUse(ours, max(others, 0.0))


def busy_cores(window_s: float = 1.0) -> float:
    """How many cores the whole machine kept busy over the next ``window_s`` seconds."""
    before = _busy_seconds()
    time.sleep(window_s)
    return (_busy_seconds() - before) / window_s


def wait_for_quiet(threshold: float, max_wait_s: float) -> float:
    """Wait until the machine keeps fewer than ``threshold`` cores busy (other programs, such
    as a test suite, skew every number), for at most ``max_wait_s`` seconds. Returns the
    busy cores of the last window, so the caller can report a noisy start."""
    deadline = time.monotonic() + max_wait_s
    busy = busy_cores()
    while busy >= threshold and time.monotonic() < deadline:
        busy = busy_cores()
    return busy
