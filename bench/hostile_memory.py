"""The server's memory after hostile and heavy requests, against its memory before them
(``python bench/hostile_memory.py``; target: within 20 %).

A ``modelmart serve`` process on loopback with the catalogue's image classifier deployed
gets, ``--rounds`` times over: 16 large PNGs in one request (within the per-request pixel
budget, so they are decoded), the same beyond the budget (refused from their headers), a CSV
of 100,000 columns (refused from its header line), a zip shaped like a model directory that
would unpack 80 MiB from under 1 MiB (refused by its ratio), a CSV of 2,000 columns
(accepted), and the dataset list. The resident memory of the server's main process (where
all of that parsing happens; the model runs in a worker) is read after a warm-up request and
after the suite.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
from live_server import running_server
from PIL import Image

from modelmart import Client

CLASSIFIER = "mobilenet-v2"
TARGET_RATIO = 1.2
SETTLE_S = 2.0  # let the allocator hand back what the last request freed


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` alone (not its workers), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def png_base64(side: int) -> str:
    """A ``side`` x ``side`` gradient PNG: a few KB on the wire, side² pixels decoded."""
    image = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def csv_bytes(columns: int, rows: int) -> bytes:
    """``rows`` rows of digits under ``columns`` named columns, every column varying (a
    dataset's last column is its target: it needs two classes at least)."""
    header = ",".join(f"c{i}" for i in range(columns))
    lines = [",".join(str((i + r) % 10) for i in range(columns)) for r in range(rows)]
    return (header + "\n" + "\n".join(lines) + "\n").encode()


def zip_bomb(folder: Path) -> Path:
    archive = folder / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("my-model/config.json", '{"model_type": "bert"}')
        zipped.writestr("my-model/tokenizer.json", "{}")
        zipped.writestr("my-model/model.safetensors", bytes(80 * 1024 * 1024))
    return archive


def hostile_round(http: httpx.Client, images: list[str], folder: Path, index: int) -> list[int]:
    """One pass of the suite; the statuses it got, in order."""
    statuses = [
        http.post("/v1/tasks/image-classification", json={"input": images}).status_code,
        http.post(
            "/v1/tasks/image-classification", json={"input": [png_base64(2600)] * 16}
        ).status_code,
        http.post(
            f"/v1/datasets/wide-{index}/versions",
            files={"file": ("wide.csv", csv_bytes(100_000, 1), "text/csv")},
        ).status_code,
        http.post(
            f"/v1/datasets/broad-{index}/versions",
            files={"file": ("broad.csv", csv_bytes(2_000, 50), "text/csv")},
        ).status_code,
        http.get("/v1/datasets").status_code,
    ]
    http.post("/v1/registry/models", json={"name": f"bomb-{index}", "task": "embedding"})
    with zip_bomb(folder).open("rb") as archive:
        statuses.append(
            http.post(
                f"/v1/registry/models/bomb-{index}/versions",
                files={"artifact": ("bomb.zip", archive)},
                data={"metadata": "{}"},
            ).status_code
        )
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelmart-hostile-") as temporary:
        folder = Path(temporary)
        with running_server(folder / "data", folder / "server.log") as server:
            with Client(server.url, timeout=600) as mm:
                mm.deploy(CLASSIFIER)
            with httpx.Client(base_url=server.url, timeout=600) as http:
                warm = [png_base64(224)]
                http.post("/v1/tasks/image-classification", json={"input": warm})
                time.sleep(SETTLE_S)
                before = rss_mb(server.pid)
                images = [png_base64(2400)] * 16  # 92 Mpx in all: within the 100 Mpx budget
                for index in range(args.rounds):
                    statuses = hostile_round(http, images, folder, index)
                    print(f"round {index + 1}: statuses {statuses}", flush=True)
                time.sleep(SETTLE_S)
                after = rss_mb(server.pid)
    ratio = after / before
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"main process RSS: {before:.0f} MiB before, {after:.0f} MiB after: {ratio:.2f}x")
    print(f"{verdict} the {TARGET_RATIO:.1f}x target")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
