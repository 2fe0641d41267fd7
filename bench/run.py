"""ModelMart's speed benchmark, in one command: ``make bench``.

Trains iris, zips MiniLM, measures both in process (the ceiling), then serves them from a real
``modelmart serve`` subprocess on loopback and loads it with wrk. Prints a Markdown report and
writes it to ``bench/RESULTS.md``. The server and every temporary file are removed however the
run ends.

    .venv/bin/python bench/run.py              # full: 3 x 10 s per load, about 6 minutes
    .venv/bin/python bench/run.py --quick      # 1 x 3 s per load; RESULTS.md is left alone
    .venv/bin/python bench/run.py --out bench/out/   # also keep the raw numbers and wrk output

MiniLM is served as one process instance with 2 torch threads and batches of up to 32: on two
cores a second instance only splits the same cores between two half-speed copies, and
in-process ``encode`` gains nothing past batch 16-32 while a bigger batch makes every request
wait longer (the ``--minilm-*`` options try other settings).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import in_process
import machine
import report
import workload
from live_server import Server, ServerFailed, check_alive, running_server
from wrk_load import LoadFailed, Scenario, Timing, measure, median_run, wrk_version

from modelmart import Client

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
DEPLOY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs."""

    timing: Timing
    iris_budget_s: float
    encode_batch_sizes: tuple[int, ...]
    encode_budget_s: float


FULL = Plan(Timing(5, 10, 3), 2.0, (1, 8, 16, 32, 64), 4.0)
QUICK = Plan(Timing(1, 3, 1), 0.5, (1, 16, 32), 1.5)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 x 3 s per load instead of 3 x 10 s")
    parser.add_argument("--out", type=Path, help="folder for the raw results (JSON, wrk output)")
    parser.add_argument(
        "--results",
        type=Path,
        help=f"Markdown file to update (default: {DEFAULT_RESULTS.name} in full mode, none in "
        "quick mode)",
    )
    parser.add_argument("--minilm-instances", type=int, default=1)
    parser.add_argument("--minilm-threads", type=int, default=2)
    parser.add_argument("--minilm-batch", type=int, default=32, help="max_batch_size")
    parser.add_argument("--minilm-delay-ms", type=float, default=5.0, help="max_delay_ms")
    return parser.parse_args(argv)


def deploy_models(server: Server, iris: Path, minilm: Path, serving: report.MinilmServing) -> None:
    """Register and deploy both models, then check that each answers sensibly."""
    with Client(server.url, timeout=DEPLOY_TIMEOUT_S) as client:
        client.push_version(workload.IRIS, iris, task="classification")
        client.deploy(workload.IRIS, instances=1)
        threads = {"threads": serving.threads}
        client.push_version(workload.MINILM, minilm, task="embedding", parameters=threads)
        client.deploy(
            workload.MINILM,
            instances=serving.instances,
            max_batch_size=serving.max_batch_size,
            max_delay_ms=serving.max_delay_ms,
        )
        label = client.predict(workload.IRIS, [workload.iris_rows()[0]])[0]
        embedding = client.predict(workload.MINILM, ["A quick check."])[0]
    if len(embedding) != workload.MINILM_DIMENSION or not isinstance(label, dict):
        raise ServerFailed(
            f"unexpected answers: iris {label!r}, MiniLM embedding of length {len(embedding)} "
            f"(expected {workload.MINILM_DIMENSION})"
        )


def scenarios(folder: Path) -> list[Scenario]:
    iris = workload.write_bodies(folder / "iris.jsonl", workload.iris_rows())
    texts = workload.write_bodies(folder / "sentences.jsonl", workload.sentences())
    return [
        Scenario("iris_c1", "iris, 1 connection", workload.IRIS, iris, 1),
        Scenario("iris_c64", "iris, 64 connections", workload.IRIS, iris, 64),
        Scenario("minilm_c64", "MiniLM, 64 connections", workload.MINILM, texts, 64),
    ]


def load_server(
    server: Server, loads: list[Scenario], timing: Timing, raw: dict[str, Any]
) -> dict[str, report.Served]:
    served: dict[str, report.Served] = {}
    for scenario in loads:
        before, started = machine.sample(server.pid), time.monotonic()
        runs, outputs = measure(server.url, scenario, timing)
        cpu = machine.cpu_use(before, machine.sample(server.pid), time.monotonic() - started)
        check_alive(server)
        served[scenario.key] = report.Served(scenario, runs, median_run(runs), cpu)
        raw["wrk_output"][scenario.key] = outputs
    return served


def measure_ceiling(
    plan: Plan, iris: Path, threads: int
) -> tuple[in_process.IrisCeiling, in_process.MinilmCeiling]:
    print("In process (no server):", flush=True)
    iris_ceiling = in_process.iris_ceiling(iris, workload.iris_rows()[0], plan.iris_budget_s)
    print(f"  iris predict + predict_proba p50: {iris_ceiling.both_ms * 1000:.0f} µs", flush=True)
    minilm = in_process.minilm_ceiling(
        workload.minilm_directory(),
        workload.sentences(),
        threads,
        plan.encode_batch_sizes,
        plan.encode_budget_s,
        plan.timing.repetitions,
    )
    for rate in minilm.rates:
        print(f"  MiniLM encode batch {rate.batch_size}: {rate.sentences_per_s:.1f}/s", flush=True)
    return iris_ceiling, minilm


def benchmark(args: argparse.Namespace, plan: Plan, raw: dict[str, Any]) -> report.Results:
    serving = report.MinilmServing(
        args.minilm_instances, args.minilm_threads, args.minilm_batch, args.minilm_delay_ms
    )
    setup = report.Setup(
        quick=args.quick,
        timing=plan.timing,
        wrk_version=wrk_version(),
        cores=machine.cores(),
        cpu_model=machine.cpu_model(),
        minilm=serving,
        iris_rows=len(workload.iris_rows()),
        sentences=len(workload.sentences()),
        started=datetime.now().astimezone(),
    )
    with tempfile.TemporaryDirectory(prefix="modelmart-bench-") as temporary:
        folder = Path(temporary)
        iris = workload.train_iris(folder / "iris.skops")
        minilm_zip = workload.zip_minilm(folder / "minilm.zip")
        iris_ceiling, minilm_ceiling = measure_ceiling(plan, iris, serving.threads)
        print("Served (modelmart serve + wrk):", flush=True)
        with running_server(folder / "data", folder / "server.log") as server:
            deploy_models(server, iris, minilm_zip, serving)
            served = load_server(server, scenarios(folder), plan.timing, raw)
    return report.Results(setup, served, iris_ceiling, minilm_ceiling)


def save_raw(out: Path, results: report.Results, raw: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for key, outputs in raw["wrk_output"].items():
        for index, output in enumerate(outputs, start=1):
            (out / f"wrk-{key}-{index}.txt").write_text(output, encoding="utf-8")
    summary = asdict(results)
    summary["minilm_share"] = results.minilm_share
    (out / "results.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks, so the server is stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    plan = QUICK if args.quick else FULL
    raw: dict[str, Any] = {"wrk_output": {}}
    try:
        results = benchmark(args, plan, raw)
    except (ServerFailed, LoadFailed) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    generated = report.render(results)
    print("\n" + generated)
    target = args.results or (None if args.quick else DEFAULT_RESULTS)
    if target is not None:
        report.write_results(target, generated)
        print(f"\nwrote {target}")
    if args.out is not None:
        save_raw(args.out, results, raw)
        print(f"raw results in {args.out}")
    if results.failed_requests:
        print(f"{results.failed_requests} requests failed; see the table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
