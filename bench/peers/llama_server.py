"""llama.cpp's own HTTP server as a chat peer, built from the source ModelMart runs.

llama-cpp-python's sdist vendors the whole llama.cpp tree, ``tools/server`` included, so the
peer is built from exactly the code behind ModelMart's chat runtime: same version, same
``GGML_NATIVE=OFF`` as the Makefile's build of the Python binding. The sdist comes from the
package index pip already uses; the binary lands in ``bench/.venvs/llama-server/`` (built
once, a few minutes on two cores). ``python bench/peers/llama_server.py`` builds it.

The server runs one model with ``-np`` slots sharing one batch (its continuous batching) and
``-t`` threads; :func:`command` is the command line the benchmark starts.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
TARGET = PEERS_DIR.parent / ".venvs" / "llama-server"
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF",  # as the Makefile builds the binding ModelMart runs
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_CURL=OFF",  # the model is a local file; nothing is downloaded
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary to keep
)


def binding_version() -> str:
    """The llama-cpp-python version ModelMart's environment runs (its llama.cpp source)."""
    return importlib.metadata.version("llama-cpp-python")


def binary() -> Path:
    return TARGET / binding_version() / "llama-server"


def build(rebuild: bool = False) -> Path:
    """Build ``llama-server`` from the binding's sdist unless it is there; return its path."""
    found = binary()
    if found.is_file() and not rebuild:
        return found
    version = binding_version()
    print(f"building llama-server {version} in {found.parent} (once; a few minutes)", flush=True)
    with tempfile.TemporaryDirectory(prefix="llama-server-") as scratch:
        source = _unpacked_sdist(version, Path(scratch))
        build_dir = Path(scratch) / "build"
        subprocess.run(["cmake", "-S", str(source), "-B", str(build_dir), *CMAKE_ARGS], check=True)
        jobs = str(max(1, len(os.sched_getaffinity(0))))
        subprocess.run(
            ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", jobs],
            check=True,
        )
        built = next(build_dir.rglob("llama-server"))
        found.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, found)
    return found


def _unpacked_sdist(version: str, scratch: Path) -> Path:
    """The vendored llama.cpp tree of llama-cpp-python ``version``'s source distribution."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(scratch),
            f"llama-cpp-python=={version}",
        ],
        check=True,
    )
    archive = next(scratch.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
    source = next(scratch.glob("llama_cpp_python-*/vendor/llama.cpp"))
    if not (source / "tools" / "server").is_dir():
        raise FileNotFoundError(f"{archive.name} does not vendor llama.cpp's tools/server")
    return source


def command(gguf: Path, port: int, *, slots: int, threads: int, context: int) -> list[str]:
    """``llama-server`` serving ``gguf`` on loopback with ``slots`` parallel sequences that
    share a ``context``-token KV cache (each slot gets ``context / slots``)."""
    return [
        str(build()),
        "--model", str(gguf),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--parallel", str(slots),
        "--threads", str(threads),
        "--threads-batch", str(threads),
        "--ctx-size", str(context),
        "--cont-batching",
        "--no-webui",
    ]  # fmt: skip


if __name__ == "__main__":
    print(build(rebuild="--rebuild" in sys.argv))
