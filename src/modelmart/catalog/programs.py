"""Programs a catalogue model runs as a separate process (Apertium), installed from Debian
rather than PyPI: whether they are here, and what their packages take on disk."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

_DPKG_TIMEOUT_S = 10


def missing_programs(programs: Mapping[str, str]) -> str | None:
    """Which of ``programs`` (name -> Debian packages) is not on PATH, with the apt-get
    command that installs it; None when all are."""
    missing = {name: packages for name, packages in programs.items() if not shutil.which(name)}
    if not missing:
        return None
    return (
        f"this model runs the program {', '.join(missing)}, which is not installed; "
        f"install it with: apt-get install {' '.join(_packages(missing))}"
    )


def _packages(programs: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys(" ".join(programs.values()).split()))


def programs_size(programs: Mapping[str, str]) -> int | None:
    """Bytes the programs' Debian packages take once installed, as dpkg records them; None
    when dpkg is absent or a package is not installed."""
    packages = _packages(programs)
    if not packages or shutil.which("dpkg-query") is None:
        return None
    try:
        listed = subprocess.run(
            ["dpkg-query", "--show", "--showformat=${Installed-Size}\\n", *packages],
            capture_output=True,
            text=True,
            timeout=_DPKG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    sizes = listed.stdout.split()
    if listed.returncode != 0 or len(sizes) != len(packages) or not all(map(str.isdigit, sizes)):
        return None
    return sum(int(kib) for kib in sizes) * 1024
