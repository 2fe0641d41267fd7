"""The SDK and the CLI import no server module and no heavy framework.

``pip install modelmart`` installs the SDK and the CLI without the server's dependencies, so
importing them must not reach torch, FastAPI, SQLAlchemy or NumPy, nor any server package.
Checked in a fresh interpreter: this test process has imported half the server already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import modelmart

SDK_ENTRY_POINTS = ("modelmart", "modelmart.client", "modelmart.cli.main")
HEAVY_PACKAGES = (
    "torch",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "numpy",
    "llama_cpp",
    "sklearn",
    "onnxruntime",
)
SERVER_PACKAGES = (
    "modelmart.gateway",
    "modelmart.serving",
    "modelmart.store",
    "modelmart.registry",
    "modelmart.deploy",
    "modelmart.training",
    "modelmart.runtimes",
)
# Everything of modelmart the SDK may load: itself, the wire schemas and the shared modules.
SDK_MODULES = ("modelmart.client", "modelmart.cli", "modelmart.schemas")
SHARED_MODULES = ("modelmart", "modelmart.config", "modelmart.errors", "modelmart.types")

_PROBE = f"""
import importlib, json, sys
for name in {SDK_ENTRY_POINTS!r}:
    importlib.import_module(name)
print(json.dumps({{"file": sys.modules["modelmart"].__file__, "modules": sorted(sys.modules)}}))
"""


def _imported_by_the_sdk() -> list[str]:
    # This checkout first on the path, so the probe imports the code under test.
    source_root = str(Path(modelmart.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(done.stdout)
    assert Path(found["file"]).resolve() == Path(modelmart.__file__).resolve()
    return list(found["modules"])


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def test_the_sdk_and_cli_import_no_server_module_or_heavy_framework() -> None:
    modules = _imported_by_the_sdk()

    heavy = sorted({m.partition(".")[0] for m in modules if _within(m, HEAVY_PACKAGES)})
    server = [m for m in modules if _within(m, SERVER_PACKAGES)]
    unexpected = [
        m
        for m in modules
        if _within(m, ("modelmart",)) and not _within(m, SDK_MODULES) and m not in SHARED_MODULES
    ]
    assert not heavy, f"importing the SDK loaded heavy packages: {heavy}"
    assert not server, f"importing the SDK loaded server modules: {server}"
    assert not unexpected, (
        f"importing the SDK loaded {unexpected}; the SDK may import modelmart.client, "
        "modelmart.cli, modelmart.schemas, config, errors and types only"
    )
    assert "modelmart.client.sync" in modules  # the probe really imported the SDK
