"""ModelMart against the Python serving engines users would otherwise pick, side by side:
``make bench-compare`` (or ``python bench/compare.py``).

For each workload of bench/suite.py every engine is started with the same model files,
shape and batching, then paused (SIGSTOP, so an idle engine takes no CPU); the engines take
turns under the same load (wrk on loopback, or streamed chat clients), in a different order
at each repetition, so a slow minute of the machine hits all of them. Per run: requests/s,
p50/p99 latency, CPU milliseconds per request (every process of the engine), errors; per
engine: memory (PSS) after the load. Beside them, the in-process ceiling (the same compute,
batched, no server) and the memory one loaded copy takes in a plain process.

    .venv/bin/python bench/compare.py                 # everything, ~30 min; writes RESULTS.md
    .venv/bin/python bench/compare.py --check         # the regression check: short runs,
                                                      # ratios compared with COMPARE.json
    .venv/bin/python bench/compare.py --workloads iris --engines modelmart fastapi --quick

Peer environments are built on first use (bench/peers/venvs.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

import ceilings
import compare_report
import engines
import processes
import suite
from engines import Engine, Running
from live_server import ServerFailed
from machine import NoiseMeter, cpu_use
from peers import files as peer_files
from streams import StreamRun, run_streams
from wrk_load import LoadFailed, Scenario, WrkRun, run_wrk

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
RATIOS = BENCH_DIR / "COMPARE.json"
QUIET_BELOW = 0.25
CHECK_TOLERANCE = 0.15  # a ratio may fall this far below the recorded one before --check fails


@dataclass(frozen=True)
class Plan:
    warmup_s: float
    duration_s: float
    chat_duration_s: float
    repetitions: int
    chat_repetitions: int  # a streamed run also drains the queue it built: fewer, longer
    ceiling_budget_s: float
    quiet_wait_s: float


FULL = Plan(3, 8, 15, 3, 1, 3.0, quiet_wait_s=600)
QUICK = Plan(2, 4, 10, 1, 1, 1.5, quiet_wait_s=60)
CEILING_BATCHES = (1, 2, 4, 8, 16, 32)


@dataclass
class Cell:
    """One engine under one load: every repetition, and the CPU it took per request."""

    engine: str
    load: int  # connections, or concurrent streams for chat
    runs: list[WrkRun | StreamRun] = field(default_factory=list)
    cpu_ms_per_request: list[float] = field(default_factory=list)
    noise: list[float] = field(default_factory=list)


@dataclass
class WorkloadResult:
    workload: str
    label: str
    shape: suite.Shape
    cells: list[Cell] = field(default_factory=list)
    pss_mb: dict[str, float] = field(default_factory=dict)
    modelmart_model_mb: float | None = None  # per copy: PSS with the model minus without
    footprint_mb: float | None = None
    ceiling: ceilings.Ceiling | None = None
    failures: dict[str, str] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 short run per load")
    parser.add_argument(
        "--check", action="store_true", help=f"quick run; compare ratios with {RATIOS.name}"
    )
    parser.add_argument("--workloads", nargs="+", default=[w.key for w in suite.WORKLOADS])
    parser.add_argument("--engines", nargs="+", default=list(engines.LABELS))
    parser.add_argument(
        "--loads", nargs="+", type=int, help="only these connection / stream counts"
    )
    parser.add_argument("--results", type=Path, help="Markdown file to update")
    parser.add_argument("--out", type=Path, help="folder for the raw results (JSON)")
    return parser.parse_args(argv)


def _engines_for(workload: suite.Workload, chosen: list[Engine]) -> list[Engine]:
    """Metering is measured on the tiny model only, where its cost shows most; llama.cpp's
    server joins the chat workload only."""
    return [
        e
        for e in chosen
        if (not e.metered or workload.key == "iris") and engines.serves(e, workload)
    ]


def _start_all(
    stack: ExitStack,
    workload: suite.Workload,
    chosen: list[Engine],
    files: Path,
    folder: Path,
    result: WorkloadResult,
) -> list[Running]:
    started = []
    for engine in chosen:
        print(f"  starting {engine.name}", flush=True)
        try:
            running = stack.enter_context(engine.start(workload, files, folder / engine.name))
        except ServerFailed as exc:
            print(f"  {engine.name} failed to start: {exc}", flush=True)
            result.failures[engine.name] = str(exc).splitlines()[0]
            continue
        processes.wait_until_idle(running.pid)
        processes.pause(running.pid)
        started.append(running)
    return started


def _one_run(
    running: Running, workload: suite.Workload, load: int, bodies: Path, seconds: float
) -> WrkRun | StreamRun:
    if workload.streaming:
        chat = workload.bodies(workload.modelmart.deployment)
        return run_streams(running.url + workload.route, chat, load, seconds, running.headers)
    scenario = Scenario(workload.key, workload.label, "", bodies, load, workload.route)
    run, _ = run_wrk(running.url, scenario, seconds, running.headers)
    return run


def _requests(run: WrkRun | StreamRun) -> int:
    return run.requests if isinstance(run, WrkRun) else run.completed


def _measure_cell(
    cell: Cell,
    running: Running,
    workload: suite.Workload,
    bodies: Path,
    plan: Plan,
    meter: NoiseMeter,
    warm_up: bool,
) -> None:
    seconds = plan.chat_duration_s if workload.streaming else plan.duration_s
    processes.resume(running.pid)
    try:
        if warm_up:
            _one_run(running, workload, cell.load, bodies, plan.warmup_s)
        meter.server_session = running.pid
        meter.settle()
        before, cpu_before = meter.sample(), processes.cpu_seconds(running.pid)
        run = _one_run(running, workload, cell.load, bodies, seconds)
        cpu = processes.cpu_seconds(running.pid) - cpu_before
        noise = cpu_use(before, meter.sample()).others
    finally:
        processes.wait_until_idle(running.pid)
        processes.pause(running.pid)
    cell.runs.append(run)
    cell.cpu_ms_per_request.append(cpu * 1000 / max(1, _requests(run)))
    cell.noise.append(noise)
    print(f"    {running.engine}, load {cell.load}: {compare_report.run_line(run)}", flush=True)


def _load_engines(
    workload: suite.Workload,
    started: list[Running],
    bodies: Path,
    plan: Plan,
    meter: NoiseMeter,
    result: WorkloadResult,
) -> None:
    for load in workload.connections:
        cells = {r.engine: Cell(r.engine, load) for r in started}
        result.cells.extend(cells.values())
        repetitions = plan.chat_repetitions if workload.streaming else plan.repetitions
        for repetition in range(repetitions):
            turn = repetition % max(1, len(started))
            for running in started[turn:] + started[:turn]:
                try:
                    _measure_cell(
                        cells[running.engine],
                        running,
                        workload,
                        bodies,
                        plan,
                        meter,
                        warm_up=repetition == 0,
                    )
                except LoadFailed as exc:
                    result.failures[running.engine] = str(exc).splitlines()[0]
                    print(f"    {running.engine}: load failed: {exc}", flush=True)


def _memory(started: list[Running], result: WorkloadResult) -> None:
    for running in started:
        result.pss_mb[running.engine] = processes.pss_mb(running.pid)
        if running.engine == "modelmart" and running.empty_pss_mb is not None:
            added = result.pss_mb[running.engine] - running.empty_pss_mb
            result.modelmart_model_mb = added / running.instances


def run_workload(
    workload: suite.Workload,
    chosen: list[Engine],
    files: Path,
    folder: Path,
    plan: Plan,
    meter: NoiseMeter,
) -> WorkloadResult:
    print(f"{workload.label}:", flush=True)
    result = WorkloadResult(workload.key, workload.label, workload.shape)
    folder.mkdir(parents=True, exist_ok=True)
    if not workload.streaming and workload.key != "iris":
        result.ceiling = ceilings.ceiling(workload, files, CEILING_BATCHES, plan.ceiling_budget_s)
        print(f"  in process: {result.ceiling.requests_per_s:,.1f} req/s", flush=True)
    result.footprint_mb = ceilings.footprint_mb(workload, files, folder)
    bodies = workload.write_bodies(folder / f"{workload.key}.jsonl", workload.modelmart.deployment)
    with ExitStack() as stack:
        started = _start_all(stack, workload, _engines_for(workload, chosen), files, folder, result)
        _load_engines(workload, started, bodies, plan, meter, result)
        _memory(started, result)
    return result


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks: every engine is stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    plan = QUICK if args.quick or args.check else FULL
    chosen = engines.engines(args.engines)
    meter = NoiseMeter(QUIET_BELOW, plan.quiet_wait_s)
    started = datetime.now().astimezone()
    results = []
    with tempfile.TemporaryDirectory(prefix="modelmart-compare-") as temporary:
        folder = Path(temporary)
        files = peer_files.prepare(folder / "files")
        for workload in suite.by_key(args.workloads):
            if args.loads:
                kept = tuple(load for load in workload.connections if load in args.loads)
                workload = dataclasses.replace(workload, connections=kept or workload.connections)
            results.append(
                run_workload(workload, chosen, files, folder / workload.key, plan, meter)
            )
    summary = compare_report.Summary(
        started,
        args.quick or args.check,
        plan.repetitions,
        plan.duration_s,
        plan.chat_duration_s,
        results,
        plan.chat_repetitions,
    )
    generated = compare_report.render(summary)
    print("\n" + generated)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(asdict(summary), indent=2, default=str))
    ratios = compare_report.ratios(summary)
    if args.check:
        return _check(ratios)
    target = args.results or (None if args.quick else RESULTS)
    if target is not None:
        compare_report.write(target, generated)
        RATIOS.write_text(json.dumps(ratios, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"\nwrote {target} and {RATIOS}")
    return 0


def _check(ratios: dict[str, float]) -> int:
    """Fail when a ratio of ModelMart to a peer or to the ceiling fell by more than the
    tolerance since the last full run (absolute speeds differ from machine to machine)."""
    recorded = json.loads(RATIOS.read_text(encoding="utf-8")) if RATIOS.is_file() else {}
    worse = []
    for name, value in sorted(ratios.items()):
        before = recorded.get(name)
        verdict = (
            "new"
            if before is None
            else ("ok" if value >= before * (1 - CHECK_TOLERANCE) else "WORSE")
        )
        print(f"{name}: {value:.2f} (recorded {before if before is not None else '-'}) {verdict}")
        if verdict == "WORSE":
            worse.append(name)
    if worse:
        print(
            f"regression: {', '.join(worse)} fell more than {CHECK_TOLERANCE:.0%}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
