"""A real ``modelmart serve`` subprocess on a free loopback port, stopped however the block
exits."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.2
_LOG_TAIL_LINES = 40


class ServerFailed(RuntimeError):
    """The server did not start, or died while the benchmark ran."""


@dataclass(frozen=True)
class Server:
    """A started server: its base URL, its process id (also the id of the session its worker
    processes share) and its log file."""

    url: str
    pid: int
    log: Path


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def modelmart_command() -> Path:
    """The ``modelmart`` console script of the interpreter that runs the benchmark."""
    command = Path(sys.executable).with_name("modelmart")
    if not command.is_file():
        raise ServerFailed(
            f"no modelmart command next to {sys.executable}; install the project into this "
            "environment first (make install)"
        )
    return command


def log_tail(log: Path) -> str:
    if not log.is_file():
        return "(no server log)"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:])


@contextmanager
def running_server(
    data_dir: Path, log: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """Start ``modelmart serve`` with ``data_dir``, yield it once it answers, and stop it (and
    its worker processes) when the block exits, even on an error. ``extra_env`` is added to
    the server's environment (to try a knob such as OMP_WAIT_POLICY)."""
    port = free_port()
    # Only the flags decide the settings: stray MODELMART_* variables would change the run.
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELMART_")}
    # The serving path alone, unless a run asks for accounts (bench/metering.py does).
    env["MODELMART_AUTH_ENABLED"] = "false"
    env.update(extra_env or {})
    command = [str(modelmart_command()), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_live(url, process, log)
            yield Server(url, process.pid, log)
        finally:
            _stop(process)


def check_alive(server: Server) -> None:
    """Raise :class:`ServerFailed` with the log's tail if the server stopped answering."""
    try:
        httpx.get(f"{server.url}/healthz", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        tail = log_tail(server.log)
        raise ServerFailed(f"the server stopped answering ({exc}); log:\n{tail}") from exc


def _wait_until_live(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(
                f"the server exited with code {process.returncode}; log:\n{log_tail(log)}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(_POLL_S)
    raise ServerFailed(
        f"the server did not answer within {START_TIMEOUT_S:g} s; log:\n" + log_tail(log)
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the server to shut down (it stops its workers), then kill what is left of its
    process group: its worker processes share it."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signal.SIGKILL)
