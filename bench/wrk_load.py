"""Load generation with ``wrk``: one scenario is a warm-up, then several timed runs whose
median is reported.

wrk runs with one thread: on a 2-core machine every core wrk takes is one the server loses,
and one wrk thread drives far more requests per second over loopback than the server answers.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from machine import CpuUse, NoiseMeter, cpu_use

SCRIPT = Path(__file__).with_name("post_bodies.lua")
_SUMMARY_PREFIX = "WRK_SUMMARY "
_REQUEST_TIMEOUT_S = 10
_GRACE_S = 60  # on top of the run's duration, before a stuck wrk is killed
NOISY_ABOVE = 0.2  # cores kept busy by other programs that spoil a run


class LoadFailed(RuntimeError):
    """wrk is missing, failed or printed no summary."""


@dataclass(frozen=True)
class Scenario:
    """One load shape: ``connections`` keep one request each in flight, bodies taken in turn
    from ``bodies`` (one JSON body per line)."""

    key: str
    label: str
    deployment: str
    bodies: Path
    connections: int
    path: str | None = None  # the URL path; ModelMart's :predict route of ``deployment`` if None

    @property
    def url_path(self) -> str:
        return self.path or f"/v1/models/{self.deployment}:predict"


@dataclass(frozen=True)
class Timing:
    warmup_s: float
    duration_s: float
    repetitions: int
    retries: int  # extra attempts for a run spoiled by other programs


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured. Latencies in milliseconds; ``non_2xx`` counts answers with
    an HTTP status of 400 or more (wrk's status errors; the API never redirects)."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadFailed("wrk is not installed; install it (apt-get install wrk) and rerun")
    return found


def wrk_version() -> str:
    """wrk's version line, e.g. ``wrk 4.1.0 [epoll]``."""
    completed = subprocess.run(
        [wrk_path(), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (completed.stdout or completed.stderr).splitlines()[:1]
    words = first[0].split() if first else ["wrk", "(unknown)"]
    return " ".join(word for word in words[:3] if not word.startswith("Copyright"))


def run_wrk(
    url: str, scenario: Scenario, duration_s: float, headers: tuple[str, ...] = ()
) -> tuple[WrkRun, str]:
    """One wrk run; returns the parsed summary and wrk's whole output. ``headers`` are
    ``Name: value`` lines sent with every request (an API key)."""
    command = [
        wrk_path(),
        *(f"--header={header}" for header in headers),
        "--threads=1",
        f"--connections={scenario.connections}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={_REQUEST_TIMEOUT_S}s",
        "--latency",
        f"--script={SCRIPT}",
        f"{url}{scenario.url_path}",
        "--",
        str(scenario.bodies),
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + _GRACE_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadFailed(f"wrk ran past {duration_s + _GRACE_S:g} s and was stopped") from exc
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise LoadFailed(f"wrk exited with code {completed.returncode}:\n{output}")
    return parse_summary(output), output


def parse_summary(output: str) -> WrkRun:
    lines = [line for line in output.splitlines() if line.startswith(_SUMMARY_PREFIX)]
    if not lines:
        raise LoadFailed(f"wrk printed no summary line; its output was:\n{output}")
    raw = json.loads(lines[-1].removeprefix(_SUMMARY_PREFIX))
    duration_s = raw["duration_us"] / 1e6
    socket_errors = sum(
        raw[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return WrkRun(
        requests=raw["requests"],
        duration_s=duration_s,
        requests_per_s=raw["requests"] / duration_s if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non_2xx=raw["status_errors"],
        socket_errors=socket_errors,
    )


@dataclass(frozen=True)
class MeasuredRun:
    """A timed run, the CPU use around it and wrk's output."""

    run: WrkRun
    cpu: CpuUse
    output: str


def _timed_run(url: str, scenario: Scenario, timing: Timing, meter: NoiseMeter) -> MeasuredRun:
    meter.settle()
    before = meter.sample()
    run, output = run_wrk(url, scenario, timing.duration_s)
    return MeasuredRun(run, cpu_use(before, meter.sample()), output)


def measure(url: str, scenario: Scenario, timing: Timing, meter: NoiseMeter) -> list[MeasuredRun]:
    """A warm-up run (discarded), then ``timing.repetitions`` timed runs. A run during which
    other programs kept more than ``NOISY_ABOVE`` cores busy is redone, up to
    ``timing.retries`` times; the last attempt is kept either way."""
    print(f"  {scenario.label}: warm-up {timing.warmup_s:g} s", flush=True)
    run_wrk(url, scenario, timing.warmup_s)
    measured: list[MeasuredRun] = []
    for repetition in range(1, timing.repetitions + 1):
        for attempt in range(timing.retries + 1):
            result = _timed_run(url, scenario, timing, meter)
            run, noise = result.run, result.cpu.others
            print(
                f"  {scenario.label}: run {repetition}/{timing.repetitions}: "
                f"{run.requests_per_s:,.0f} req/s, p50 {run.p50_ms:.2f} ms, "
                f"p99 {run.p99_ms:.2f} ms, errors {run.non_2xx + run.socket_errors}, "
                f"other programs {noise:.2f} cores",
                flush=True,
            )
            if noise <= NOISY_ABOVE or attempt == timing.retries:
                break
            print("    too noisy; running it again", flush=True)
        measured.append(result)
    return measured


def median_run(runs: list[WrkRun]) -> WrkRun:
    """The median of every rate and latency across ``runs``; counts and errors are summed."""
    return WrkRun(
        requests=sum(run.requests for run in runs),
        duration_s=sum(run.duration_s for run in runs),
        requests_per_s=statistics.median(run.requests_per_s for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p90_ms=statistics.median(run.p90_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        max_ms=max(run.max_ms for run in runs),
        non_2xx=sum(run.non_2xx for run in runs),
        socket_errors=sum(run.socket_errors for run in runs),
    )
