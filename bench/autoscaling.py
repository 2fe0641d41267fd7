"""What scale to zero costs: the latency of the first request after a deployment stopped its
last instance (a cold start), next to a request to a warm instance.

Serves iris from a real ``modelmart serve`` subprocess twice: one deployment with a fixed
instance, one with ``min_instances`` 0 that the server stops after a second of idling. Each
round waits until the autoscaled one is at zero, then times one request to it; the warm figure
is the median of requests to the fixed one. Instances are worker processes (the default
isolation), so a cold start pays for starting a process and loading the model.

    .venv/bin/python bench/autoscaling.py            # 5 rounds; writes bench/AUTOSCALING.md
    .venv/bin/python bench/autoscaling.py --rounds 2 --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import workload
from live_server import running_server

IDLE_S = 1.0
ZERO_TIMEOUT_S = 60.0


def _serve_iris(http: httpx.Client, artifact: Path) -> float:
    """Deploy iris twice; the seconds the first deployment took to load."""
    http.post("/v1/registry/models", json={"name": "iris", "task": "classification"})
    with artifact.open("rb") as file:
        pushed = http.post(
            "/v1/registry/models/iris/versions",
            files={"artifact": (artifact.name, file)},
            data={"metadata": "{}"},
        )
    pushed.raise_for_status()
    started = time.perf_counter()
    warm = {"model": "iris", "name": "iris-warm"}
    http.post("/v1/deployments", params={"wait": "true"}, json=warm).raise_for_status()
    loaded = time.perf_counter() - started
    cold = {"model": "iris", "name": "iris-cold", "min_instances": 0, "max_instances": 1}
    http.post("/v1/deployments", json=cold).raise_for_status()
    return loaded


def _timed_predict(http: httpx.Client, name: str, row: list[float]) -> float:
    started = time.perf_counter()
    http.post(f"/v1/models/{name}:predict", json={"instances": [row]}).raise_for_status()
    return time.perf_counter() - started


def _wait_for_zero(http: httpx.Client) -> None:
    deadline = time.monotonic() + ZERO_TIMEOUT_S
    while http.get("/v1/deployments/iris-cold").json()["ready_instances"] != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("iris-cold never scaled to zero")
        time.sleep(0.05)


def measure(rounds: int) -> tuple[list[float], float, float]:
    """(cold-start latencies, median warm latency, first deploy), in seconds."""
    env = {"MODELMART_SCALE_TO_ZERO_AFTER_S": str(IDLE_S), "MODELMART_AUTOSCALE_INTERVAL_S": "0.1"}
    row = workload.iris_rows()[0]
    with tempfile.TemporaryDirectory(prefix="modelmart-bench-") as folder:
        root = Path(folder)
        artifact = workload.train_iris(root / "iris.skops")
        with (
            running_server(root / "data", root / "server.log", env) as server,
            httpx.Client(base_url=server.url, timeout=120) as http,
        ):
            loaded = _serve_iris(http, artifact)
            warm = [_timed_predict(http, "iris-warm", row) for _ in range(50)]
            cold = []
            for _ in range(rounds):
                _wait_for_zero(http)
                cold.append(_timed_predict(http, "iris-cold", row))
    return cold, statistics.median(warm), loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    cold, warm, loaded = measure(args.rounds)
    lines = [
        "# Scale to zero: the cold start",
        "",
        "`bench/autoscaling.py`: iris (scikit-learn through skops) in a worker process, over "
        f"HTTP on loopback; {os.cpu_count()} cores, load average {load:.1f} at the start "
        "(other work on the machine slows process starts most).",
        "",
        "| request | latency |",
        "|---|---|",
        f"| to a warm instance (median of 50) | {warm * 1000:.1f} ms |",
        f"| first after scaling to zero (median of {len(cold)}) | "
        f"{statistics.median(cold) * 1000:.0f} ms |",
        f"| first after scaling to zero (slowest) | {max(cold) * 1000:.0f} ms |",
        f"| for comparison: deploying it (one instance loads) | {loaded * 1000:.0f} ms |",
        "",
        "The cold start is a worker process starting and loading the model while the request "
        "waits in the queue; the autoscaler is woken by the request, not by its next tick.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (Path(__file__).parent / "AUTOSCALING.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
