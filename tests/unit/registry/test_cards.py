"""Model cards built from fake versions: catalogue, trained and uploaded, and what each says
when a fact is unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelmart.registry.cards import CardFacts, declared_card, version_card, with_declared_card
from modelmart.schemas.catalog import Latency, Measurement, ModelCard
from modelmart.schemas.registry import DeclaredCard, ModelInfo, VersionInfo
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TABLE = Signature(
    inputs=(TensorSpec(name="features", datatype=Datatype.FP32, shape=(-1, 4)),),
    outputs=(TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 3)),),
)
IMAGES = Signature(
    inputs=(TensorSpec(name="image", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),),
)


def model(
    task: Task = Task.CLASSIFICATION, owner: str = "acme", description: str = ""
) -> ModelInfo:
    return ModelInfo(
        name="iris",
        task=task,
        description=description,
        owner=owner,
        created_at=WHEN,
        latest_version=1,
        aliases={},
    )


def version(
    *,
    task: Task = Task.CLASSIFICATION,
    artifact_format: ArtifactFormat = ArtifactFormat.ONNX,
    signature: Signature = TABLE,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> VersionInfo:
    return VersionInfo(
        model="iris",
        version=1,
        format=artifact_format,
        runtime=RuntimeName.ONNX,
        task=task,
        signature=signature,
        parameters=parameters or {},
        metrics=metrics or {},
        lineage=lineage or {},
        artifact_digest="0" * 64,
        artifact_size=10,
        created_at=WHEN,
    )


def facts(**given: Any) -> CardFacts:
    return CardFacts(cpu_watts_per_core=10.0, max_request_pixels=1_000_000, **given)


def catalogue_card(latency: Latency | None) -> ModelCard:
    return ModelCard(
        name="langid",
        title="Language identification",
        task=Task.LANGUAGE_IDENTIFICATION,
        description="Names the language of a text among 97.",
        runtime=RuntimeName.ONNX,
        format=ArtifactFormat.ONNX,
        packages={"langid": "1.1.6"},
        licences={"langid": "BSD-2-Clause"},
        size_bytes=100,
        signature=TABLE,
        latency=latency,
        quality=[Measurement(metric="accuracy", value=0.9, dataset="200 sentences, 20 languages")],
        available=True,
        unavailable_reason=None,
    )


LATENCY = Latency(
    ms_per_item_alone=3.0, ms_per_item_batched=2.0, batch_size=32, cpu="AMD EPYC", threads=2
)
REPORT = {
    "dataset": {"name": "flowers", "version": 3, "digest": "d" * 64, "kind": "table"},
    "split_sizes": {"train": 100, "validation": 20, "test": 30},
    "metrics": {"accuracy": 0.93},
}
TRAINED_LINEAGE = {
    "dataset": "flowers",
    "dataset_version": 3,
    "dataset_digest": "d" * 64,
    "job_id": "job-1",
    "spec": {"task": "classification"},
}


def test_a_catalogue_version_takes_use_licence_quality_and_energy_from_its_entry() -> None:
    stored = version(
        artifact_format=ArtifactFormat.PACKAGE,
        metrics={"accuracy": 0.9},
        lineage={"source": "package", "packages": {"langid": "1.1.6"}},
    )
    card = version_card(model(owner="modelmart"), stored, facts(catalogue=catalogue_card(LATENCY)))

    assert card.source == "catalogue"
    assert card.intended_use == "Names the language of a text among 97."
    assert card.licence == "langid: BSD-2-Clause"
    assert card.training.packages == {"langid": "1.1.6"}
    assert [(m.metric, m.value, m.evaluation_set) for m in card.quality] == [
        ("accuracy", 0.9, "200 sentences, 20 languages")
    ]
    assert card.energy_per_item is not None
    # 2 ms per item x 2 threads x 10 W = 0.04 J, and it says it is an estimate.
    assert card.energy_per_item.joules_per_item == pytest.approx(0.04)
    assert card.energy_per_item.estimated
    assert "estimated from CPU time x 10 W per core" in card.energy_per_item.method
    assert "quality: not evaluated" not in card.limits
    assert card.explanation.method is None
    assert card.explanation.reason is not None
    assert "no stored explanation background" in card.explanation.reason


def test_the_energy_estimate_follows_the_watts_setting_and_is_null_without_latency() -> None:
    stored = version(artifact_format=ArtifactFormat.PACKAGE)
    hot = CardFacts(
        cpu_watts_per_core=25.0, max_request_pixels=1, catalogue=catalogue_card(LATENCY)
    )
    card = version_card(model(owner="modelmart"), stored, hot)
    assert card.energy_per_item is not None
    assert card.energy_per_item.joules_per_item == pytest.approx(2.0 / 1000 * 2 * 25.0)

    unmeasured = version_card(model(), stored, facts(catalogue=catalogue_card(None)))
    assert unmeasured.energy_per_item is None
    assert "energy per item: not measured (no latency was measured)" in unmeasured.limits


def test_a_trained_version_names_its_dataset_job_and_held_out_split() -> None:
    stored = version(metrics={"accuracy": 0.93, "f1_macro": 0.9}, lineage=TRAINED_LINEAGE)
    card = version_card(model(), stored, facts(report=REPORT))

    assert card.source == "trained"
    assert card.training.dataset == "flowers"
    assert card.training.dataset_version == 3
    assert card.training.training_job == "job-1"
    assert card.training.recorded == TRAINED_LINEAGE
    split = "held-out test split (30 rows) of dataset 'flowers' version 3"
    assert {m.metric: (m.value, m.evaluation_set) for m in card.quality} == {
        "accuracy": (0.93, split),
        "f1_macro": (0.9, split),
    }
    assert card.intended_use is not None
    assert "dataset 'flowers' version 3" in card.intended_use
    assert card.licence.startswith("trained by acme on dataset 'flowers' version 3")
    assert "licence is not recorded" in card.licence
    assert card.energy_per_item is None


def test_an_upload_with_nothing_declared_says_what_is_unknown() -> None:
    card = version_card(model(), version(), facts())

    assert card.source == "upload"
    assert card.intended_use is None
    assert card.quality == []
    assert card.licence == "not declared"
    assert card.energy_per_item is None
    assert card.training.dataset is None
    assert card.training.training_job is None
    for line in (
        "quality: not evaluated",
        "intended use: not declared by the uploader",
        "licence: not declared by the uploader",
        "energy per item: not measured (no latency was measured)",
    ):
        assert line in card.limits
    assert "input 'features': FP32 of shape [any, 4] (first: batch)" in card.limits


def test_an_upload_shows_what_its_uploader_declared() -> None:
    declared = DeclaredCard(
        intended_use="Sorting irises in a botany class.",
        limits=["Only three species."],
        licence="CC-BY-4.0",
    )
    stored = version(
        metrics={"accuracy": 0.8, "notes": "good"},
        lineage=with_declared_card({"parent_version": 2}, declared),
    )
    card = version_card(model(), stored, facts())

    assert card.intended_use == "Sorting irises in a botany class."
    assert card.licence == "CC-BY-4.0"
    assert "Only three species." in card.limits
    assert card.training.parent_version == 2
    # Only numbers are quality figures; an upload's set is not named, and the card says so.
    assert [(m.metric, m.evaluation_set) for m in card.quality] == [("accuracy", None)]
    assert "quality: the uploader's figures, on an evaluation set it did not name" in card.limits
    assert "licence: not declared by the uploader" not in card.limits


def test_a_malformed_declared_card_in_free_form_lineage_counts_as_none() -> None:
    assert declared_card({"card": {"licence": 5, "extra": True}}) is None
    assert declared_card({"card": "MIT"}) is None
    assert declared_card({}) is None
    assert declared_card({"card": {"licence": "MIT"}}) == DeclaredCard(licence="MIT")


def test_an_upload_falls_back_to_the_models_description_for_its_use() -> None:
    card = version_card(model(description="Iris species from petal sizes."), version(), facts())
    assert card.intended_use == "Iris species from petal sizes."


def test_limits_name_the_chat_context_and_the_image_pixel_cap() -> None:
    chat = version(task=Task.CHAT, parameters={"context_length": 2048, "max_tokens": 64})
    chat_card = version_card(model(Task.CHAT), chat, facts())
    assert "context window: 2048 tokens" in chat_card.limits
    assert "tensor-route answers stop after 64 tokens" in chat_card.limits

    unset = version_card(model(Task.CHAT), version(task=Task.CHAT), facts())
    assert any("as the model file sets it" in line for line in unset.limits)

    image = version(task=Task.IMAGE_CLASSIFICATION, signature=IMAGES)
    image_card = version_card(model(Task.IMAGE_CLASSIFICATION), image, facts())
    assert (
        "images: at most 1,000,000 pixels per request on the image task routes (server setting)"
    ) in image_card.limits
    ocr = version_card(model(Task.OCR), version(task=Task.OCR, signature=IMAGES), facts())
    assert any(line.startswith("images: at most") for line in ocr.limits)
    assert not any(line.startswith("images:") for line in chat_card.limits)
