"""One deployment flooded past its queue must not slow another one down
(``python bench/flood.py``).

A server runs two deployments: ``fast`` (iris, answering one flower at a time) and
``flooded`` (MiniLM embeddings, one single-threaded instance: about a core's worth of model
work when busy). One client calls ``fast`` back to back and records each latency, through
three kinds of phases, interleaved so a slow moment of the machine hits all of them:

* quiet: nothing else runs;
* loaded: ``flooded`` is kept busy by as many clients as its queue holds (no refusals);
* flooded: ``--flood-clients`` clients (far more than the queue holds) call ``flooded`` with
  no pause at all, not even after a 503, so most of them are refused with a ``Retry-After``.

The load runs in a separate process. The report gives the p99 of ``fast`` in each kind of
phase: flooded against quiet is the target (within 20 %); flooded against loaded is what the
flood costs beyond a busy neighbour (the admission control's share: refusals instead of an
ever longer queue). Everything runs on loopback, bounded in time (``--phase-s`` per phase).

``--layout`` decides where things run on this machine's CPUs:

* ``pinned`` (the default): ``flooded`` gets the last CPU (its ``cpus``), the server
  (``MODELMART_SERVER_CPUS``) and with it ``fast`` the others. The clients stand in for
  callers on other machines, so they must not take the CPUs they measure: the flood's run on
  the flooded deployment's CPU, the one measuring ``fast`` on the server's.
* ``shared``: nothing is pinned; every process may run on every CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import workload
from live_server import Server, check_alive, running_server

from modelmart import Client

FAST, FLOODED = "fast", "flooded"
QUEUE_LIMIT = 16
TARGET_RATIO = 1.2
LOAD_RAMP_S = 0.5
SENTENCE = "The support team closed the ticket in under five minutes."


@dataclass(frozen=True)
class FloodCount:
    served: int
    refused: int
    other: int
    retry_after_s: list[int]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase-s", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="quiet+flooded phase pairs")
    parser.add_argument("--flood-clients", type=int, default=128)
    parser.add_argument("--layout", choices=("pinned", "shared"), default="pinned")
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)  # the flooder itself
    return parser.parse_args(argv)


async def flood(url: str, clients: int, seconds: float) -> FloodCount:
    """``clients`` callers of ``flooded``, each sending its next request as soon as the last
    is answered, for ``seconds``."""
    body = {"instances": [SENTENCE]}
    statuses: list[int] = []
    waits: list[int] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                response = await http.post(f"/v1/models/{FLOODED}:predict", json=body)
            except httpx.TransportError as exc:  # counted as "other", named on stderr
                print(f"flood request failed: {exc!r}", file=sys.stderr)
                statuses.append(0)
                continue
            statuses.append(response.status_code)
            if response.status_code == 503:
                waits.append(int(response.headers.get("retry-after", "0")))

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    served = statuses.count(200)
    refused = statuses.count(503)
    return FloodCount(served, refused, len(statuses) - served - refused, waits)


def fast_latencies(http: httpx.Client, seconds: float, kind: str = "warmup") -> list[float]:
    """Milliseconds of each ``fast`` call, one after another, for ``seconds``. Each carries a
    request id naming the ``kind`` of phase, so the server's own timing of it can be found in
    its access log (:func:`server_latencies`)."""
    body = {"instances": [workload.iris_rows()[0]]}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        headers = {"x-request-id": f"{kind}-{len(latencies)}"}
        started = time.perf_counter()
        response = http.post(f"/v1/models/{FAST}:predict", json=body, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


@dataclass(frozen=True)
class Layout:
    """The CPUs of the server (and ``fast``), of ``flooded`` and of each client; empty: any."""

    server: frozenset[int] = frozenset()
    flooded: frozenset[int] = frozenset()

    @classmethod
    def of(cls, name: str) -> Layout:
        cpus = sorted(os.sched_getaffinity(0))
        if name == "shared" or len(cpus) < 2:
            return cls()
        return cls(frozenset(cpus[:-1]), frozenset(cpus[-1:]))

    @property
    def server_env(self) -> dict[str, str]:
        return {"MODELMART_SERVER_CPUS": ",".join(map(str, sorted(self.server)))}


def start_flooder(
    url: str, clients: int, seconds: float, cpus: frozenset[int]
) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--flood", url, "--flood-clients", str(clients)]
    command += ["--phase-s", str(seconds)]
    if cpus:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def prepare(server: Server, iris: Path, minilm: Path, layout: Layout) -> None:
    with Client(server.url, timeout=600) as client:
        client.push_version(workload.IRIS, iris, task="classification")
        client.push_version(workload.MINILM, minilm, task="embedding", parameters={"threads": 1})
        client.deploy(workload.IRIS, name=FAST)
        client.deploy(
            workload.MINILM,
            name=FLOODED,
            max_batch_size=32,
            max_queued_requests=QUEUE_LIMIT,
            cpus=sorted(layout.flooded) or None,
        )
        client.predict(FAST, [workload.iris_rows()[0]])
        client.predict(FLOODED, [SENTENCE])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def phase(
    http: httpx.Client, url: str, kind: str, clients: int, seconds: float, layout: Layout
) -> tuple[list[float], FloodCount]:
    """``fast``'s latencies while ``clients`` callers load ``flooded`` (none: quiet)."""
    if clients == 0:
        return fast_latencies(http, seconds, kind), FloodCount(0, 0, 0, [])
    loader = start_flooder(url, clients, seconds, layout.flooded)
    time.sleep(LOAD_RAMP_S)  # its clients connect and fill the queue
    latencies = fast_latencies(http, seconds - LOAD_RAMP_S, kind)
    output, _ = loader.communicate(timeout=seconds + 120)
    return latencies, FloodCount(**json.loads(output))


def measure(server: Server, args: argparse.Namespace, layout: Layout) -> str:
    shapes = {"quiet": 0, "loaded": QUEUE_LIMIT, "flooded": args.flood_clients}
    latencies: dict[str, list[float]] = {kind: [] for kind in shapes}
    counts: dict[str, list[FloodCount]] = {kind: [] for kind in shapes}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        fast_latencies(http, 1.0)  # warm-up
        for _ in range(args.rounds):
            for kind, clients in shapes.items():
                measured, count = phase(http, server.url, kind, clients, args.phase_s, layout)
                latencies[kind] += measured
                counts[kind].append(count)
                check_alive(server)
        metrics = http.get("/metrics").text
    return report(latencies, counts, metrics, args, server_latencies(server.log))


def server_latencies(log: Path) -> dict[str, list[float]]:
    """The server's own milliseconds for each ``fast`` call, by kind of phase: from its access
    log, by the request ids the client chose (so without the client's side of the socket)."""
    timed: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"request_id"' not in line:
            continue
        entry = json.loads(line)
        kind, _, _ = str(entry.get("request_id", "")).partition("-")
        if entry.get("path") == f"/v1/models/{FAST}:predict":
            timed.setdefault(kind, []).append(float(entry["duration_ms"]))
    return timed


def report(
    latencies: dict[str, list[float]],
    counts: dict[str, list[FloodCount]],
    metrics: str,
    args: argparse.Namespace,
    on_server: dict[str, list[float]],
) -> str:
    p99 = {kind: percentile(values, 0.99) for kind, values in latencies.items()}
    server_p99 = {kind: percentile(on_server.get(kind, [0.0]), 0.99) for kind in latencies}
    ratio = p99["flooded"] / p99["quiet"]
    lines = [
        f"fast (iris) called back to back by one client; {args.rounds} rounds of quiet, "
        f"loaded ({QUEUE_LIMIT} clients) and flooded ({args.flood_clients} clients) phases "
        f"of {args.phase_s:g} s; flooded deployment: MiniLM, 1 instance x 1 thread, queue "
        f"limit {QUEUE_LIMIT}; layout {args.layout}",
    ]
    for kind, values in latencies.items():
        got = counts[kind]
        waits = [wait for count in got for wait in count.retry_after_s]
        lines.append(
            f"{kind:8} fast: {len(values)} calls, p50 {statistics.median(values):.2f} ms, "
            f"p99 {p99[kind]:.2f} ms (in the server: p50 "
            f"{statistics.median(on_server.get(kind, [0.0])):.2f} ms, p99 "
            f"{server_p99[kind]:.2f} ms); {FLOODED}: {sum(c.served for c in got)} served, "
            f"{sum(c.refused for c in got)} refused (503, Retry-After "
            f"{min(waits, default=0)}..{max(waits, default=0)} s), "
            f"{sum(c.other for c in got)} other"
        )
    lines += [
        f"p99 flooded / quiet: {ratio:.2f} (target <= {TARGET_RATIO:.2f}: "
        f"{'met' if ratio <= TARGET_RATIO else 'not met'})",
        f"p99 flooded / loaded: {p99['flooded'] / p99['loaded']:.2f}",
        f"in the server, p99 flooded / quiet: "
        f"{server_p99['flooded'] / max(server_p99['quiet'], 1e-9):.2f}",
        *(line for line in metrics.splitlines() if line.startswith("modelmart_rejected")),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.flood:
        count = asyncio.run(flood(args.flood, args.flood_clients, args.phase_s))
        print(json.dumps(count.__dict__))
        return 0
    layout = Layout.of(args.layout)
    if layout.server:  # the client measuring fast runs where fast does, off flooded's CPU
        os.sched_setaffinity(0, layout.server)
    with tempfile.TemporaryDirectory(prefix="modelmart-flood-") as scratch:
        folder = Path(scratch)
        iris = workload.train_iris(folder / "iris.skops")
        minilm = workload.zip_minilm(folder / "minilm.zip")
        env = layout.server_env if layout.server else {}
        with running_server(folder / "data", folder / "server.log", env) as server:
            prepare(server, iris, minilm, layout)
            print(measure(server, args, layout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
