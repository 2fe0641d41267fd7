"""Print the memory one loaded copy of a workload's model takes in a plain Python process.

    python footprint.py WORKLOAD FILES THREADS BODY_JSON

Imports only what the model needs (through models.py), loads it, answers the one request in
BODY_JSON, then prints the process's proportional set size in MiB. It runs as its own
process so that nothing the benchmark imported is counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import models


def own_pss_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no Pss line in /proc/self/smaps_rollup (Linux 4.14 or newer needed)")


def main(argv: list[str]) -> int:
    workload, files, threads, body_file = argv
    model = models.load(workload, Path(files), int(threads))
    body = json.loads(Path(body_file).read_text(encoding="utf-8"))
    if workload == "chat":
        b"".join(model.stream(model.parse(body)))
    else:
        model([model.parse(body)])
    print(f"{own_pss_mb():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
