"""The engines under comparison, each started on a free loopback port with one workload.

ModelMart runs as ``modelmart serve`` from this environment and gets the workload through
its API (a catalogue model deployed under the workload's name, or iris pushed first); each
peer runs its app from ``bench/peers/`` in its own virtualenv. Either way the engine is a
process group the benchmark can pause, measure and kill, and it is only handed over once it
answers a real request of the workload.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import processes
import suite
from live_server import ServerFailed, free_port, log_tail, running_server
from metering import OPERATOR_KEY, customer_key
from peers import llama_server, venvs

from modelmart import Client

PEERS_DIR = Path(__file__).resolve().parent / "peers"
READY_TIMEOUT_S = 900.0  # Ray starts its cluster, then every replica loads its model
STOP_TIMEOUT_S = 20.0


@dataclass
class Running:
    """A started engine: where it answers, its first process, the headers every request
    needs, and its memory before any model was loaded (ModelMart only: it starts empty)."""

    engine: str
    url: str
    pid: int
    log: Path
    headers: tuple[str, ...] = ()
    empty_pss_mb: float | None = None
    instances: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Engine:
    """``kind`` is ``modelmart`` or a peer from bench/peers (``fastapi``, ``litserve``, ...)."""

    name: str
    kind: str
    metered: bool = False

    @contextmanager
    def start(self, workload: suite.Workload, files: Path, folder: Path) -> Iterator[Running]:
        folder.mkdir(parents=True, exist_ok=True)
        if self.kind == "modelmart":
            with _modelmart(self, workload, folder) as running:
                yield running
        elif self.kind == LLAMA_SERVER:
            with _llama_server(workload, files, folder) as running:
                yield running
        else:
            with _peer(self, workload, files, folder) as running:
                yield running


PEERS = ("fastapi", "litserve", "bentoml", "ray")
LLAMA_SERVER = "llama-server"
"""llama.cpp's own C++ server, a peer for the chat workload only (bench/peers/llama_server.py)."""
LABELS = {
    "modelmart": "ModelMart",
    "modelmart-metered": "ModelMart, metered",
    "fastapi": "FastAPI + uvicorn (baseline)",
    "litserve": "LitServe",
    "bentoml": "BentoML",
    "ray": "Ray Serve",
    LLAMA_SERVER: "llama.cpp server (C++)",
}


def engines(names: list[str]) -> list[Engine]:
    known = {
        "modelmart": Engine("modelmart", "modelmart"),
        "modelmart-metered": Engine("modelmart-metered", "modelmart", metered=True),
        **{peer: Engine(peer, peer) for peer in PEERS},
        LLAMA_SERVER: Engine(LLAMA_SERVER, LLAMA_SERVER),
    }
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; choose from {', '.join(known)}")
    return [known[name] for name in names]


@contextmanager
def _modelmart(engine: Engine, workload: suite.Workload, folder: Path) -> Iterator[Running]:
    env = {"MODELMART_AUTH_ENABLED": "true", "MODELMART_BOOTSTRAP_API_KEY": OPERATOR_KEY}
    log = folder / "server.log"
    with running_server(folder / "data", log, env if engine.metered else None) as server:
        running = Running(engine.name, server.url, server.pid, log)
        running.empty_pss_mb = processes.pss_mb(server.pid)
        key = customer_key(server, workload.modelmart.model) if engine.metered else None
        _deploy(server.url, workload, folder, key)
        if key is not None:
            running.headers = (f"Authorization: Bearer {key}",)
        running.instances = workload.shape.workers
        wait_until_ready(running, workload, None)
        yield running


def _deploy(url: str, workload: suite.Workload, folder: Path, key: str | None) -> None:
    target, shape = workload.modelmart, workload.shape
    with Client(url, timeout=READY_TIMEOUT_S, api_key=key) as client:
        if target.pushed is not None:
            client.push_version(target.model, target.pushed(folder), task=target.task)
        client.deploy(
            target.model,
            name=target.deployment,
            instances=shape.workers,
            max_batch_size=shape.max_batch,
            max_delay_ms=shape.max_delay_ms,
        )


@contextmanager
def _peer(engine: Engine, workload: suite.Workload, files: Path, folder: Path) -> Iterator[Running]:
    python = venvs.build(engine.kind)
    port = free_port()
    command = [str(python), str(PEERS_DIR / f"{engine.kind}_app.py"), "--workload", workload.key]
    command += ["--files", str(files), "--port", str(port), *workload.shape.arguments()]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELMART_")}
    env |= {"PYTHONUNBUFFERED": "1", "BENTOML_DO_NOT_TRACK": "true", "RAY_USAGE_STATS_ENABLED": "0"}
    log = folder / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        running = Running(engine.name, f"http://127.0.0.1:{port}", process.pid, log)
        running.instances = workload.shape.workers
        try:
            wait_until_ready(running, workload, process)
            yield running
        finally:
            _stop(process)


def serves(engine: Engine, workload: suite.Workload) -> bool:
    """llama.cpp's server runs GGUF chat models only; every other engine runs every workload."""
    return engine.kind != LLAMA_SERVER or workload.key == "chat"


@contextmanager
def _llama_server(workload: suite.Workload, files: Path, folder: Path) -> Iterator[Running]:
    """``llama-server`` with as many slots as ModelMart runs sequences per instance, the same
    threads and the same KV cache size."""
    shape, port = workload.shape, free_port()
    command = llama_server.command(
        files / "smollm2.gguf",
        port,
        slots=suite.CHAT_PARALLEL,
        threads=shape.threads,
        context=suite.CHAT_CONTEXT,
    )
    log = folder / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        running = Running(LLAMA_SERVER, f"http://127.0.0.1:{port}", process.pid, log)
        try:
            wait_until_ready(running, workload, process)
            yield running
        finally:
            _stop(process)


def wait_until_ready(
    running: Running, workload: suite.Workload, process: subprocess.Popen[bytes] | None
) -> None:
    """Send the workload's first body until it is answered 200 (every copy may still be
    loading after the port opens)."""
    body = workload.bodies(workload.modelmart.deployment)[0]
    headers = dict(header.split(": ", 1) for header in running.headers)
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerFailed(
                f"{running.engine} exited with code {process.returncode}; log:\n"
                + log_tail(running.log)
            )
        try:
            answer = httpx.post(
                running.url + workload.route, json=body, headers=headers, timeout=120
            )
            if answer.status_code == 200:
                return
            last = f"{answer.status_code}: {answer.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise ServerFailed(
        f"{running.engine} did not answer {workload.route} within {READY_TIMEOUT_S:g} s "
        f"(last: {last}); log:\n{log_tail(running.log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (every engine shuts down on it), then SIGKILL whatever is left of its group."""
    with contextlib.suppress(ProcessLookupError):
        processes.resume(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    processes.kill_all(process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
