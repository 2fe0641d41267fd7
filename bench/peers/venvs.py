"""One virtualenv per peer engine, under ``bench/.venvs/<engine>``, built on first use.

Each engine gets its own environment so none of them shares (or upgrades) another's web
stack: ``python bench/peers/venvs.py`` builds the missing ones, ``--rebuild`` starts over.
torch==2.13.0 goes in first (the CPU build; a bare requirement pulls a multi-GB CUDA build),
then ``requirements/<engine>.txt``. llama-cpp-python compiles llama.cpp with the same flags as
the Makefile, so pip reuses the wheel it cached for ModelMart's own environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
VENVS_DIR = PEERS_DIR.parent / ".venvs"
ENGINES = ("fastapi", "litserve", "bentoml", "ray")
TORCH = "torch==2.13.0"
LLAMA_CMAKE_ARGS = (
    "-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF "
    "-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF"
)
_STAMP = ".installed"


def python_of(engine: str) -> Path:
    return VENVS_DIR / engine / "bin" / "python"


def requirements_of(engine: str) -> Path:
    return PEERS_DIR / "requirements" / f"{engine}.txt"


def is_built(engine: str) -> bool:
    """Built, and not older than its requirements (its own file and the common one)."""
    stamp = VENVS_DIR / engine / _STAMP
    if not stamp.is_file():
        return False
    sources = (requirements_of(engine), PEERS_DIR / "requirements" / "common.txt")
    return stamp.stat().st_mtime >= max(path.stat().st_mtime for path in sources)


def build(engine: str, rebuild: bool = False) -> Path:
    """Build ``engine``'s environment unless it is already there; return its python."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    target = VENVS_DIR / engine
    if rebuild and target.exists():
        shutil.rmtree(target)
    if is_built(engine):
        return python_of(engine)
    print(f"building the {engine} environment in {target} (once; a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
    python = python_of(engine)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH], check=True)
    env = {**os.environ, "CMAKE_ARGS": LLAMA_CMAKE_ARGS}
    subprocess.run([*pip, "-r", str(requirements_of(engine))], check=True, env=env)
    (target / _STAMP).touch()
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engines", nargs="*", default=list(ENGINES), choices=[[], *ENGINES])
    parser.add_argument("--rebuild", action="store_true", help="remove and build again")
    args = parser.parse_args(argv)
    for engine in args.engines:
        print(f"{engine}: {build(engine, args.rebuild)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
