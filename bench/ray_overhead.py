"""What the Ray placement costs against the local one, and how fast it recovers a lost node
(``python bench/ray_overhead.py``; writes ``bench/RAY.md``).

Throughput: two ``modelmart serve`` processes in turn, one with ``placement=local`` and one
with ``placement=ray`` (a single-machine Ray the server starts itself, 200 MB object store),
each serving iris and MiniLM (ONNX int8) in the shape of ``bench/suite.py``; wrk at 64
connections on loopback, runs interleaved so a slow minute of the machine hits both.

Recovery: a loopback Ray cluster (a head and two workers, failures noticed within about a
second as ``tests/cluster`` configures it), one server in this process, iris on two
instances (one per worker), four clients in a loop; one worker node is killed and the script
times how long until the deployment reports two ready instances again, and counts failed
requests. Every load is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import suite
import uvicorn
from engines import _deploy
from live_server import running_server
from wrk_load import Scenario, run_wrk

from modelmart.config import Settings
from modelmart.gateway.app import create_app

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RAY.md"
CONNECTIONS = 64
FINDINGS = "## Findings"  # written by hand below the table; kept when the table is rewritten
WORKLOADS = ("iris", "minilm-onnx")
PLACEMENTS = ("local", "ray")
RAY_ENV = {"MODELMART_PLACEMENT": "ray", "MODELMART_RAY_OBJECT_STORE_MB": "200"}
READY_TIMEOUT_S = 300.0
FAST_FAILURE_DETECTION = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 300,
    "health_check_timeout_ms": 300,
    "health_check_failure_threshold": 3,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def wait_ready(
    url: str, deployment: str, instances: int, timeout_s: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = httpx.get(f"{url}/v1/deployments/{deployment}", timeout=10).json()
        if view.get("state") == "ready" and view.get("ready_instances") == instances:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{deployment} did not get {instances} ready instances at {url}")


def throughput(
    workload: suite.Workload, args: argparse.Namespace, folder: Path
) -> dict[str, list[float]]:
    """req/s of each placement, ``args.repetitions`` interleaved runs each."""
    rates: dict[str, list[float]] = {placement: [] for placement in PLACEMENTS}
    bodies = workload.write_bodies(folder / f"{workload.key}.bodies", workload.modelmart.deployment)
    scenario = Scenario(
        workload.key,
        workload.label,
        workload.modelmart.deployment,
        bodies,
        CONNECTIONS,
        path=workload.route,
    )
    with contextlib_servers(workload, folder) as servers:
        for _ in range(args.repetitions):
            for placement, url in servers.items():
                run, _ = run_wrk(url, scenario, args.duration)
                if run.non_2xx or run.socket_errors:
                    raise RuntimeError(
                        f"{placement}: {run.non_2xx} non-2xx, {run.socket_errors} socket errors"
                    )
                rates[placement].append(run.requests_per_s)
    return rates


@contextmanager
def contextlib_servers(workload: suite.Workload, folder: Path) -> Iterator[dict[str, str]]:
    """Both servers, started one after the other and both up for the interleaved runs."""
    local_dir, ray_dir = folder / f"{workload.key}-local", folder / f"{workload.key}-ray"
    local_dir.mkdir()
    ray_dir.mkdir()
    with (
        running_server(local_dir / "data", local_dir / "server.log") as local,
        running_server(ray_dir / "data", ray_dir / "server.log", RAY_ENV) as on_ray,
    ):
        servers = {"local": local.url, "ray": on_ray.url}
        for placement, url in servers.items():
            here = local_dir if placement == "local" else ray_dir
            _deploy(url, workload, here, None)
            wait_ready(url, workload.modelmart.deployment, workload.shape.workers)
            scenario_warmup(url, workload)
        yield servers


def scenario_warmup(url: str, workload: suite.Workload) -> None:
    body = workload.bodies(workload.modelmart.deployment)[0]
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(20):
            http.post(workload.route, json=body).raise_for_status()


@dataclass
class Recovery:
    seconds: float
    ok: int
    failures: Counter[str]


@contextmanager
def in_thread_server(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def recovery(folder: Path, limit_s: float = 60.0) -> Recovery:
    import ray
    from ray.cluster_utils import Cluster

    store = 100 * 1024 * 1024
    cluster = Cluster(
        initialize_head=True,
        connect=True,
        head_node_args={
            "num_cpus": 0,
            "object_store_memory": store,
            "include_dashboard": False,
            "_system_config": FAST_FAILURE_DETECTION,
        },
    )
    try:
        workers = [cluster.add_node(num_cpus=2, object_store_memory=store) for _ in range(2)]
        cluster.wait_for_nodes()
        settings = Settings(
            data_dir=folder / "recovery",
            json_logs=False,
            auth_enabled=False,
            placement="ray",
            ray_address=str(cluster.address),
            ray_namespace="bench-recovery",
        )
        with in_thread_server(settings) as url:
            workload = next(w for w in suite.WORKLOADS if w.key == "iris")
            with httpx.Client(base_url=url, timeout=120) as http:
                client_deploy(http, folder)
            wait_ready(url, "iris", 2)
            return _lose_a_node(url, cluster, workers, limit_s, workload)
    finally:
        ray.shutdown()
        cluster.shutdown()


def client_deploy(http: httpx.Client, folder: Path) -> None:
    artifact = suite.workload.train_iris(folder / "iris.skops")
    http.post("/v1/registry/models", json={"name": "iris"}).raise_for_status()
    with artifact.open("rb") as file:
        http.post(
            "/v1/registry/models/iris/versions",
            files={"artifact": (artifact.name, file)},
            data={"metadata": "{}"},
        ).raise_for_status()
    http.post("/v1/deployments", json={"model": "iris", "instances": 2}).raise_for_status()


def _lose_a_node(
    url: str, cluster: object, workers: list[object], limit_s: float, workload: suite.Workload
) -> Recovery:
    import ray

    body = workload.bodies("iris")[0]
    stop = threading.Event()
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def client() -> None:
        deadline = time.monotonic() + limit_s
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set() and time.monotonic() < deadline:
                response = http.post("/v1/models/iris:predict", json=body)
                key = (
                    "ok"
                    if response.status_code == 200
                    else f"{response.status_code} {response.json()['error']['code']}"
                )
                with lock:
                    counts[key] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    actor = ray.get_actor(
        ray.util.list_named_actors(all_namespaces=True)[0]["name"], namespace="bench-recovery"
    )
    node_id = ray.get(actor.node_id.remote())
    victim = next(node for node in workers if node.node_id == node_id)  # type: ignore[attr-defined]
    lost_at = time.monotonic()
    cluster.remove_node(victim, allow_graceful=False)  # type: ignore[attr-defined]
    seen_fewer, seconds = False, float("nan")
    while time.monotonic() - lost_at < limit_s:
        ready = httpx.get(f"{url}/v1/deployments/iris", timeout=10).json()["ready_instances"]
        seen_fewer = seen_fewer or ready < 2
        if seen_fewer and ready == 2:
            seconds = time.monotonic() - lost_at
            break
        time.sleep(0.05)
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    failures = Counter({key: n for key, n in counts.items() if key != "ok"})
    return Recovery(seconds, counts["ok"], failures)


def report(
    rates: dict[str, dict[str, list[float]]], lost: Recovery | None, args: argparse.Namespace
) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Ray placement overhead",
        "",
        f"Generated by `bench/ray_overhead.py` on {stamp}: wrk at {CONNECTIONS} connections on "
        f"loopback, {args.duration:g} s runs, {args.repetitions} interleaved repetitions, medians. "
        "Target: the Ray placement at least 0.8x the local one on one machine.",
        "",
        "| Workload | local req/s | ray req/s | ray / local | runs local | runs ray |",
        "|---|---:|---:|---:|---|---|",
    ]
    for key, by_placement in rates.items():
        local, on_ray = (statistics.median(by_placement[p]) for p in PLACEMENTS)
        runs = [", ".join(f"{r:,.0f}" for r in by_placement[p]) for p in PLACEMENTS]
        ratio = on_ray / local
        lines.append(
            f"| {key} | {local:,.0f} | {on_ray:,.0f} | {ratio:.2f} | {runs[0]} | {runs[1]} |"
        )
    if lost is not None:
        failed = ", ".join(f"{n} x {key}" for key, n in lost.failures.items()) or "none"
        lines += [
            "",
            "## Losing a node",
            "",
            f"iris on two instances of a three-node loopback cluster, four clients: one worker "
            f"node killed; back to two ready instances after **{lost.seconds:.1f} s**; "
            f"{lost.ok:,} requests answered, failed: {failed}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as temp:
        folder = Path(temp)
        rates = {}
        for key in args.workloads:
            workload = next(w for w in suite.WORKLOADS if w.key == key)
            here = folder / key
            here.mkdir()
            rates[key] = throughput(workload, args, here)
            print(key, rates[key], flush=True)
        lost = None if args.skip_recovery else recovery(folder)
        print(lost, flush=True)
    text = report(rates, lost, args)
    findings = ""
    if args.output.is_file() and "## Findings" in args.output.read_text():
        findings = "\n" + args.output.read_text().split("## Findings", 1)[1].join(
            ["## Findings", ""]
        )
    args.output.write_text(text + findings, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
