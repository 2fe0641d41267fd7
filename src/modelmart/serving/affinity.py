"""Pinning a worker process to the CPUs its deployment was given.

A deployment's ``cpus`` keep its model work off the cores another deployment answers on: a
flooded or merely busy neighbour then cannot stretch a fast model's tail latency by taking its
core. The worker pins itself before it loads the model, so every thread the runtime starts
(ONNX Runtime's and torch's pools, llama.cpp's) inherits the mask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection

from modelmart.errors import CpusUnavailable
from modelmart.schemas.deployments import cpu_list, parse_cpu_list


def pin_process(cpus: Collection[int]) -> None:
    """Run this process's threads, and those they start from now on, on ``cpus`` only; no
    CPUs: leave it as it is. Threads already running count too: importing numpy starts
    OpenBLAS's pool before any model loads."""
    if not cpus:
        return
    if not hasattr(os, "sched_setaffinity"):
        raise CpusUnavailable(
            f"this operating system cannot pin processes to CPUs {sorted(cpus)}; deploy "
            "without cpus",
            details={"cpus": sorted(cpus)},
        )
    try:
        for thread in _threads():
            with contextlib.suppress(ProcessLookupError):  # it ended since it was listed
                os.sched_setaffinity(thread, set(cpus))
    except (OSError, ValueError) as exc:
        raise CpusUnavailable(
            f"CPUs {sorted(cpus)} are not available here: this server's processes may run on "
            f"{cpu_list(allowed_cpus())}; pick cpus among those",
            details={"cpus": sorted(cpus), "available": sorted(allowed_cpus())},
        ) from exc


def _threads() -> list[int]:
    """This process's thread ids (0, the calling thread, where /proc does not list them)."""
    try:
        return [int(thread) for thread in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def allowed_cpus() -> set[int]:
    """The CPUs this process may be pinned to: every online CPU of its cgroup, not only those
    of its current mask (a server started with ``taskset`` may still pin workers elsewhere)."""
    if not hasattr(os, "sched_getaffinity"):
        return set(range(os.cpu_count() or 1))
    return _cgroup_cpus() or set(os.sched_getaffinity(0))


_CGROUP_CPUSET = "/sys/fs/cgroup/cpuset.cpus.effective"
_ONLINE = "/sys/devices/system/cpu/online"


def _cgroup_cpus() -> set[int]:
    for path in (_CGROUP_CPUSET, _ONLINE):
        try:
            with open(path, encoding="ascii") as listed:
                cpus = parse_cpu_list(listed.read())
        except (OSError, ValueError):
            continue
        if cpus:
            return cpus
    return set()
