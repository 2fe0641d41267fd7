"""``pip install modelmart`` (no extras) gives a working SDK and CLI and none of the server.

The project is installed for real into a fresh virtualenv, its dependencies resolved by pip
from the configured index (pip's cache makes a rerun quick). The test is skipped only when
pip cannot reach an index at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 600
# The first test also waits for the install (the fixture), longer than the suite's default.
pytestmark = pytest.mark.timeout(PIP_TIMEOUT_S + 120)


def _run(*command: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: pointing at this checkout's src/ (as unit runs do), it would let the
    # fresh venv import the code under test without having installed it.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout, env=env
    )


def _require_an_index(python: Path, scratch: Path) -> None:
    """Skip, saying why, when pip cannot fetch even one small package."""
    probe = _run(
        python, "-m", "pip", "download", "--no-deps", "--dest", scratch, "httpx>=0.27,<1"
    )  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip cannot reach a package index to install into a fresh venv: {last}")


def _project_copy(target: Path) -> Path:
    """What a source distribution holds. pip builds a local directory in place, and would
    leave build/ and an .egg-info behind in the checkout (and race another run doing the same)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(
        REPO / "src",
        target / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return target


@pytest.fixture(scope="module")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a virtualenv where only ``pip install <project>`` was run."""
    root = tmp_path_factory.mktemp("light-install")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    _require_an_index(python, root / "probe")
    project = _project_copy(root / "project")
    installed = _run(python, "-m", "pip", "install", project, timeout=PIP_TIMEOUT_S)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def test_the_sdk_imports_and_the_cli_runs(light_python: Path) -> None:
    probe = "import modelmart; modelmart.Client; print(modelmart.__file__)"
    imported = _run(light_python, "-c", probe)
    assert imported.returncode == 0, imported.stderr
    venv_root = light_python.parents[1].resolve()
    assert Path(imported.stdout.strip()).resolve().is_relative_to(venv_root)  # not src/
    cli = _run(light_python.parent / "modelmart", "--help")
    assert cli.returncode == 0, cli.stderr
    assert "deploy" in cli.stdout


def test_serve_says_which_extra_it_needs(light_python: Path) -> None:
    served = _run(light_python.parent / "modelmart", "serve")
    assert served.returncode == 1
    assert "pip install 'modelmart[server]'" in served.stderr


@pytest.mark.parametrize("package", ["torch", "fastapi", "numpy"])
def test_no_server_dependency_is_installed(light_python: Path, package: str) -> None:
    imported = _run(light_python, "-c", f"import {package}")
    assert imported.returncode != 0, f"{package} was installed by `pip install modelmart`"
    assert f"No module named '{package}'" in imported.stderr
