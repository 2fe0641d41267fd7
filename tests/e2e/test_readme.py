"""The README's examples, run as a user would: a real `modelmart serve` process, the CLI,
curl and the SDK. The quick start's `make test` is what CI itself runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

README = Path(__file__).parents[2] / "README.md"
DEFAULT_URL = "http://127.0.0.1:8000"
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("readme")
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    command = [str(BIN / "modelmart"), "serve", "--port", port, "--data-dir", str(workdir / "data")]
    server = subprocess.Popen(command, cwd=workdir, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("modelmart serve did not answer within 60 s")
        yield url, workdir
    finally:
        server.terminate()
        server.wait(timeout=60)


def run(script: str, url: str, workdir: Path, shell: str) -> str:
    env = {**os.environ, "MODELMART_URL": url, "PATH": f"{BIN}:{os.environ['PATH']}"}
    program = [shell, "-euo", "pipefail", "-c"] if shell == "bash" else [shell, "-c"]
    finished = subprocess.run(
        [*program, script.replace(DEFAULT_URL, url)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def test_quick_start_is_two_commands() -> None:
    quick_start = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in quick_start.splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]
    assert "exec make test" in (README.parent / ".ci/run").read_text()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's HTTP example uses curl")
def test_readme_examples_run_in_order(served: tuple[str, Path]) -> None:
    url, workdir = served
    train, sdk = blocks("python")[:2]
    _, cli, http = blocks("bash")[:3]
    run(train, url, workdir, sys.executable)
    cli_output = run(cli, url, workdir, "bash")
    assert "Pushed iris v1" in cli_output
    assert '"label": 0' in cli_output
    assert '"label": 2' in cli_output
    http_output = run(http, url, workdir, "bash")
    assert '"predictions"' in http_output
    assert '"outputs"' in http_output
    sdk_output = run(sdk, url, workdir, sys.executable)
    assert "'label': 0" in sdk_output
    assert httpx.get(f"{url}/v1/deployments/iris").json()["ready_instances"] == 2


def block_with(language: str, marker: str) -> str:
    return next(block for block in blocks(language) if marker in block)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's task example uses curl")
def test_readme_openai_and_task_examples_run(served: tuple[str, Path]) -> None:
    url, workdir = served
    openai_output = run(block_with("python", "from openai import"), url, workdir, sys.executable)
    assert "'minilm-int8'" in openai_output
    dimensions, tokens = openai_output.splitlines()[-1].split()
    assert (dimensions, int(tokens) > 4) == ("384", True)
    task_output = run(block_with("bash", "/v1/tasks/sentiment"), url, workdir, "bash")
    answer = json.loads(task_output[task_output.index('{"model"') :])  # after the deploy table
    labels = [result["label"] for result in answer["results"]]
    assert labels == ["positive", "negative"]
