"""Model cards through a real server: a catalogue model's, a trained version's and an
upload's, as JSON and Markdown, through HTTP, both SDKs and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from modelmart.cli.main import app
from modelmart.client import AsyncClient, Client
from modelmart.errors import ModelNotFound, VersionNotFound
from modelmart.schemas.jobs import JobInfo, JobState
from modelmart.schemas.registry import VersionCard
from tests.integration.jobs.data import blobs_csv
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer


@pytest.fixture(scope="module")
def trained(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> JobInfo:
    path = blobs_csv(tmp_path_factory.mktemp("cards") / "card-blobs.csv")
    with Client(server.url) as mm:
        mm.push_dataset("card-blobs", path)
        job = mm.wait_for_job(
            mm.train("card-blobs", "classification", family="logistic", model="card-clf").id
        )
    assert job.state is JobState.SUCCEEDED, job.failure_reason
    return job


def test_a_catalogue_models_card_as_json_and_markdown(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.get("/v1/registry/models/langid/versions/1/card")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        card = VersionCard.model_validate(answer.json())
        markdown = http.get(
            "/v1/registry/models/langid/versions/latest/card",
            headers={"accept": "text/markdown"},
        )
        by_query = http.get("/v1/registry/models/langid/versions/1/card?format=markdown")

    assert (card.model, card.version, card.source, card.owner) == (
        "langid",
        1,
        "catalogue",
        "modelmart",
    )
    assert card.licence == "langid: BSD-2-Clause"
    assert card.training.packages
    assert card.quality
    assert all(metric.evaluation_set for metric in card.quality)  # named in measured.json
    assert card.energy_per_item is not None
    assert card.energy_per_item.estimated
    assert card.energy_per_item.method.startswith("estimated from CPU time x 10 W per core")
    assert card.explanation.method is None

    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == by_query.text
    assert markdown.text.startswith("# Model card: langid version 1\n")
    assert "| Metric | Value | Evaluation set |" in markdown.text


def test_a_trained_versions_card_names_its_dataset_job_and_split(
    server: LiveServer, trained: JobInfo
) -> None:
    version = trained.model_version or 0
    with Client(server.url) as mm:
        card = mm.model_card("card-clf", version)
        markdown = mm.model_card_markdown("card-clf", version)
        stored = mm.get_version("card-clf", version)

    assert card.source == "trained"
    assert (card.training.dataset, card.training.dataset_version) == ("card-blobs", 1)
    assert card.training.training_job == trained.id
    assert {m.metric: m.value for m in card.quality} == pytest.approx(stored.metrics)
    for metric in card.quality:
        assert metric.evaluation_set is not None
        assert metric.evaluation_set.startswith("held-out test split (")
        assert metric.evaluation_set.endswith("of dataset 'card-blobs' version 1")
    assert card.licence.startswith("trained by")
    assert "dataset 'card-blobs' version 1" in card.licence
    assert card.energy_per_item is None
    assert "energy per item: not measured (no latency was measured)" in card.limits
    assert f"| Training job | {trained.id} |" in markdown


def test_the_async_sdk_reads_the_same_card(server: LiveServer, trained: JobInfo) -> None:
    async def read() -> VersionCard:
        async with AsyncClient(server.url) as mm:
            return await mm.model_card("card-clf", trained.model_version or 0)

    with Client(server.url) as mm:
        assert asyncio.run(read()) == mm.model_card("card-clf", trained.model_version or 0)


def test_an_upload_shows_what_was_declared_and_what_was_not(
    server: LiveServer, tmp_path: Path
) -> None:
    artifact = iris_skops(tmp_path / "iris.skops")
    declared = {"intended_use": "Teaching | demos <b>", "limits": ["3 species"], "licence": "MIT"}
    with Client(server.url) as mm:
        mm.push_version("card-iris", artifact, task="classification", card=declared)
        mm.push_version("card-iris", artifact, metrics={"accuracy": 0.97})
        mm.set_alias("card-iris", "production", 1)
        first = mm.model_card("card-iris", "production")
        second = mm.model_card("card-iris", 2)
        markdown = mm.model_card_markdown("card-iris", 1)
        with pytest.raises(VersionNotFound):
            mm.model_card("card-iris", 9)
        with pytest.raises(ModelNotFound):
            mm.model_card("no-such-model", 1)

    assert first.version == 1
    assert (first.intended_use, first.licence) == ("Teaching | demos <b>", "MIT")
    assert "3 species" in first.limits
    assert "quality: not evaluated" in first.limits
    assert "Teaching \\| demos &lt;b&gt;" in markdown
    assert second.licence == "not declared"
    assert second.intended_use is None
    assert [(m.metric, m.evaluation_set) for m in second.quality] == [("accuracy", None)]
    assert "licence: not declared by the uploader" in second.limits


def test_the_cli_prints_a_card_as_a_table_json_and_markdown(
    server: LiveServer, trained: JobInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    version = str(trained.model_version)
    shown = runner.invoke(
        app, ["--url", server.url, "models", "card", "card-clf", "--version", version]
    )
    assert shown.exit_code == 0, shown.output
    assert "card-blobs v1" in shown.output
    assert "held-out test split" in shown.output

    as_json = runner.invoke(app, ["--url", server.url, "--json", "models", "card", "langid"])
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.output)["source"] == "catalogue"

    markdown = runner.invoke(app, ["--url", server.url, "models", "card", "langid", "--markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert markdown.output.startswith("# Model card: langid version 1\n")

    declared = tmp_path / "card.json"
    declared.write_text('{"intended_use": "a demo", "licence": "Apache-2.0"}')
    artifact = iris_skops(tmp_path / "iris.skops")
    push = ["models", "push", "cli-card-iris", str(artifact), "--task", "classification"]
    pushed = runner.invoke(app, ["--url", server.url, *push, "--card", str(declared)])
    assert pushed.exit_code == 0, pushed.output
    uploaded = runner.invoke(
        app, ["--url", server.url, "--json", "models", "card", "cli-card-iris"]
    )
    assert uploaded.exit_code == 0, uploaded.output
    card = orjson.loads(uploaded.output)
    assert (card["source"], card["intended_use"], card["licence"]) == (
        "upload",
        "a demo",
        "Apache-2.0",
    )
