"""ModelMart's speed benchmark, in one command: ``make bench``.

Trains iris, zips MiniLM, measures both in process (the ceiling), then serves them from a real
``modelmart serve`` subprocess on loopback and loads it with wrk. Prints a Markdown report and
writes it to ``bench/RESULTS.md``. The server and every temporary file are removed however the
run ends.

    .venv/bin/python bench/run.py              # full: 3 x 10 s per load, about 5 minutes
    .venv/bin/python bench/run.py --quick      # 1 x 3 s per load; RESULTS.md is left alone
    .venv/bin/python bench/run.py --out bench/out/   # also keep the raw numbers and wrk output

MiniLM is served as two process instances with one torch thread each and batches of up to 16.
On two cores, two single-threaded copies encode more than one copy with two threads (the
threads of one copy wait for each other at every layer), and they degrade gracefully when
something else takes a core, where two spinning OpenMP threads stall. ``encode`` gains nothing
past batch 16 per copy, and a bigger batch makes every request in it wait longer. The
``--minilm-*`` options try other settings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

import in_process
import machine
import report
import workload
from live_server import Server, ServerFailed, check_alive, running_server
from machine import NoiseMeter
from wrk_load import LoadFailed, Scenario, Timing, measure, median_run, wrk_version

from modelmart import Client, ModelMartError

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
DEPLOY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs, and how long the benchmark may wait, in all, for other
    programs to leave the machine quiet."""

    timing: Timing
    iris_budget_s: float
    encode_batch_sizes: tuple[int, ...]
    encode_budget_s: float
    quiet_wait_s: float


FULL = Plan(Timing(5, 10, 3, retries=2), 2.0, (1, 8, 16, 32, 64), 4.0, quiet_wait_s=600)
QUICK = Plan(Timing(1, 3, 1, retries=0), 0.5, (1, 16, 32), 1.5, quiet_wait_s=30)
QUIET_BELOW = 0.25  # cores busy on the whole machine


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


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
    parser.add_argument("--minilm-instances", type=positive_int, default=2)
    parser.add_argument("--minilm-threads", type=positive_int, default=1, help="torch threads each")
    parser.add_argument("--minilm-batch", type=positive_int, default=32, help="max_batch_size")
    parser.add_argument("--minilm-delay-ms", type=float, default=5.0, help="max_delay_ms")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add to the server's environment (repeatable), e.g. OMP_WAIT_POLICY=PASSIVE",
    )
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    return args


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
    server: Server, loads: list[Scenario], timing: Timing, meter: NoiseMeter
) -> dict[str, report.Served]:
    meter.server_session = server.pid  # its workers share the session the server leads
    served: dict[str, report.Served] = {}
    for scenario in loads:
        runs = measure(server.url, scenario, timing, meter)
        check_alive(server)
        median = median_run([measured.run for measured in runs])
        cpu = in_process.average_use([measured.cpu for measured in runs])
        served[scenario.key] = report.Served(scenario, runs, median, cpu)
    return served


def encoder_shapes(serving: report.MinilmServing) -> list[in_process.EncoderShape]:
    """The deployment's shape, and one process using every core if that differs."""
    shapes = [in_process.EncoderShape(serving.instances, serving.threads)]
    whole_machine = in_process.EncoderShape(1, machine.cores())
    return shapes if whole_machine in shapes else [*shapes, whole_machine]


def measure_ceiling(
    plan: Plan, iris: Path, serving: report.MinilmServing, meter: NoiseMeter
) -> tuple[in_process.IrisCeiling, tuple[in_process.MinilmCeiling, ...]]:
    print("In process (no server):", flush=True)
    row = workload.iris_rows()[0]
    iris_ceiling = in_process.iris_ceiling(iris, row, plan.iris_budget_s, meter)
    print(f"  iris predict + predict_proba p50: {iris_ceiling.both_ms * 1000:.0f} µs", flush=True)
    ceilings = []
    for shape in encoder_shapes(serving):
        ceiling = in_process.minilm_ceiling(
            workload.minilm_directory(),
            workload.sentences(),
            shape,
            plan.encode_batch_sizes,
            plan.encode_budget_s,
            plan.timing.repetitions,
            meter,
        )
        for rate in ceiling.rates:
            print(f"  MiniLM {shape}, batch {rate.batch_size}: {rate.sentences_per_s:.1f}/s")
        ceilings.append(ceiling)
    return iris_ceiling, tuple(ceilings)


def http_stack() -> str:
    """What uvicorn picks in this environment: httptools and uvloop when installed."""
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn with {parser} and {loop}"


def describe(args: argparse.Namespace, plan: Plan, serving: report.MinilmServing) -> report.Setup:
    return report.Setup(
        quick=args.quick,
        timing=plan.timing,
        wrk_version=wrk_version(),
        cores=machine.cores(),
        cpu_model=machine.cpu_model(),
        minilm=serving,
        server_env=dict(item.split("=", 1) for item in args.server_env),
        http_stack=http_stack(),
        iris_rows=len(workload.iris_rows()),
        sentences=len(workload.sentences()),
        started=datetime.now().astimezone(),
    )


def benchmark(args: argparse.Namespace, plan: Plan) -> report.Results:
    serving = report.MinilmServing(
        args.minilm_instances, args.minilm_threads, args.minilm_batch, args.minilm_delay_ms
    )
    setup = describe(args, plan, serving)
    meter = NoiseMeter(QUIET_BELOW, plan.quiet_wait_s)
    with tempfile.TemporaryDirectory(prefix="modelmart-bench-") as temporary:
        folder = Path(temporary)
        iris = workload.train_iris(folder / "iris.skops")
        minilm_zip = workload.zip_minilm(folder / "minilm.zip")
        iris_ceiling, minilm_ceilings = measure_ceiling(plan, iris, serving, meter)
        print("Served (modelmart serve + wrk):", flush=True)
        log = folder / "server.log"
        with running_server(folder / "data", log, setup.server_env) as server:
            deploy_models(server, iris, minilm_zip, serving)
            served = load_server(server, scenarios(folder), plan.timing, meter)
    return report.Results(setup, served, iris_ceiling, minilm_ceilings, meter.waited_s)


def save_raw(out: Path, results: report.Results) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for key, served in results.served.items():
        for index, measured in enumerate(served.runs, start=1):
            (out / f"wrk-{key}-{index}.txt").write_text(measured.output, encoding="utf-8")
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
    try:
        results = benchmark(args, plan)
    except (ServerFailed, LoadFailed, in_process.EncoderFailed, ModelMartError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    generated = report.render(results)
    print("\n" + generated)
    target = args.results or (None if args.quick else DEFAULT_RESULTS)
    if target is not None:
        report.write_results(target, generated)
        print(f"\nwrote {target}")
    if args.out is not None:
        save_raw(args.out, results)
        print(f"raw results in {args.out}")
    if results.failed_requests:
        print(f"{results.failed_requests} requests failed; see the table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
