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

from tests.integration.energy import billed

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
    log = workdir / "server.log"
    # As a user runs it: accounts on, and the operator's key taken from what the first start
    # prints (the suite's default turns accounts off for the other tests).
    env = {**os.environ, "MODELMART_AUTH_ENABLED": "true"}
    env.pop("MODELMART_BOOTSTRAP_API_KEY", None)
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=workdir, stderr=log_file, env=env)
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
        printed = re.search(r"mm_[0-9a-f]{12}_\S+", log.read_text(errors="replace"))
        assert printed is not None, "the first start printed no operator key"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MODELMART_API_KEY", printed.group(0))  # for the SDK, CLI and curl
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
    headers = {"Authorization": f"Bearer {os.environ['MODELMART_API_KEY']}"}
    deployment = httpx.get(f"{url}/v1/deployments/iris", headers=headers).json()
    assert deployment["ready_instances"] == 2


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


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's task examples use curl")
def test_readme_entities_example_runs(served: tuple[str, Path]) -> None:
    url, workdir = served
    output = run(block_with("bash", "/v1/tasks/entities"), url, workdir, "bash")
    answer = json.loads(output[output.index('{"model"') :])  # after the deploy table
    (result,) = answer["results"]
    assert [entity["type"] for entity in result["entities"]] == [
        "PERSON",
        "PHONE_NUMBER",
        "EMAIL_ADDRESS",
    ]
    assert result["redacted"] == "Call <PERSON> at <PHONE_NUMBER> or mail <EMAIL_ADDRESS>."


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("apertium") is None,
    reason="the README's translation example uses curl and apertium (apt-get install apertium "
    "apertium-eng-spa)",
)
def test_readme_translation_example_runs(served: tuple[str, Path]) -> None:
    url, workdir = served
    output = run(block_with("bash", "/v1/tasks/translation"), url, workdir, "bash")
    answer = json.loads(output[output.index('{"model"') :])
    translations = [result["translation"] for result in answer["results"]]
    assert translations == ["La casa es roja.", "Muchas gracias."]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's speech example uses curl")
def test_readme_speech_examples_run(served: tuple[str, Path]) -> None:
    url, workdir = served
    output = run(block_with("bash", "/v1/audio/speech"), url, workdir, "bash")
    decoder = json.JSONDecoder()
    transcript, end = decoder.raw_decode(output, output.index('{"text"'))  # after the tables
    assert transcript["text"] == "please call the office before noon"
    assert transcript["usage"]["type"] == "duration"
    task, _ = decoder.raw_decode(output, end)
    assert task["results"][0]["text"] == transcript["text"]
    sdk_output = run(block_with("python", "client.audio"), url, workdir, sys.executable)
    text, timings = sdk_output.strip().splitlines()[-2:]
    assert text == "the train leaves every hour"
    assert timings.startswith("[('the', ")


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's image example uses curl")
def test_readme_image_examples_run(served: tuple[str, Path]) -> None:
    url, workdir = served
    output = run(block_with("bash", "/v1/tasks/image-classification"), url, workdir, "bash")
    decoder = json.JSONDecoder()
    classes, end = decoder.raw_decode(output, output.index('{"model"'))  # after the tables
    labels = classes["results"][0]["labels"]
    assert len(labels) == 2
    assert labels[0]["class_id"] in {281, 282, 285}  # tabby, tiger cat, Egyptian cat
    faces, _ = decoder.raw_decode(output, end)
    assert faces["results"] == [{"faces": []}]  # a cat's face is no human face
    assert billed(faces["usage"]) == {"images": 1}


def test_readme_training_examples_run(served: tuple[str, Path]) -> None:
    url, workdir = served
    cli_output = run(block_with("bash", "modelmart datasets push"), url, workdir, "bash")
    assert "Pushed dataset flowers v1 (tabular, 150 rows)" in cli_output
    assert "Trained flowers-logistic v1" in cli_output
    assert (workdir / "flowers-report.html").read_text().lstrip().lower().startswith("<!doctype")
    assert '"label"' in cli_output
    sdk_output = run(block_with("python", "mm.watch_job"), url, workdir, sys.executable)
    assert "JobInfo" in sdk_output
    state, model, version, accuracy = sdk_output.splitlines()[-1].split()
    assert (state, model, version) == ("succeeded", "iris-logistic", "1")
    assert float(accuracy) > 0.8


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's chat example uses curl")
def test_readme_chat_examples_run(served: tuple[str, Path]) -> None:
    url, workdir = served
    stream = run(block_with("bash", "/v1/chat/completions"), url, workdir, "bash")
    assert '"object":"chat.completion.chunk"' in stream
    assert stream.rstrip().endswith("data: [DONE]")
    sdk_output = run(block_with("python", "client.chat.completions"), url, workdir, sys.executable)
    *_, total_tokens, person, arguments = sdk_output.splitlines()
    assert int(total_tokens) > 16  # the prompt's tokens and the answer's
    assert {"name", "age"} <= set(json.loads(person))  # the schema's grammar held
    assert isinstance(json.loads(arguments)["city"], str)  # the forced tool call's arguments


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's selling example uses curl")
def test_readme_selling_example_runs(served: tuple[str, Path]) -> None:
    """After the iris example above (same server): a customer, its key, a call, its bill."""
    url, workdir = served
    output = run(block_with("bash", "/v1/publications"), url, workdir, "bash")
    assert '"predictions"' in output
    assert "iris" in output  # the usage table
    invoice = output[output.index("kind,model,unit") :].splitlines()
    assert invoice[-1] == "total,,,,,,,,0.00"  # one request at 0.002 rounds to 0.00
    assert any(line.startswith("usage,iris,requests,1") for line in invoice)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the example pins to CPU 1")
def test_readme_pinning_example_runs(
    served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, workdir = served
    monkeypatch.setenv("COLUMNS", "200")  # a table as wide as a terminal would show it
    output = run(block_with("bash", "--max-queued-requests"), url, workdir, "bash")
    row = next(line for line in output.splitlines() if "embed " in line)
    assert "process on 1" in row
    assert "0 / 16" in row
    headers = {"Authorization": f"Bearer {os.environ['MODELMART_API_KEY']}"}
    assert httpx.delete(f"{url}/v1/deployments/embed", headers=headers).status_code == 204
