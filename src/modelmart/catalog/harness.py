"""What every catalogue measurement starts from: the model loaded as a deployment loads it,
and the name of the CPU its timings were taken on.

Its own module so that :mod:`modelmart.catalog.evaluate` (which measures every model) and the
per-family evaluations it calls (which can also run alone) share it without importing each
other.
"""

from __future__ import annotations

import platform
from pathlib import Path

from modelmart.catalog.entry import CatalogEntry
from modelmart.registry.packages import assemble
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime


def load(entry: CatalogEntry, workdir: Path) -> Runtime:
    """``entry`` loaded by its runtime, from its package files, as a deployment loads it."""
    path = assemble(entry.manifest, workdir / entry.name)
    runtime = create_runtime(entry.manifest.runtime)
    runtime.load(
        LoadRequest(path, entry.manifest.format, entry.task, entry.signature, entry.parameters)
    )
    return runtime


def cpu_name() -> str:
    """The processor's model name (Linux), else what the platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
