import io
import json
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from modelmart.errors import InvalidArtifact, SchemaMismatch, UnsafeFormat
from modelmart.runtimes.base import LoadRequest, Runtime, inspect_artifact
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

Open = Callable[..., Runtime]

# TorchScript is deprecated upstream, and torch.jit.load says so on every call; ModelMart still
# serves it because users upload it.
jit_load_is_deprecated = pytest.mark.filterwarnings(
    "ignore:`torch.jit.load` is deprecated:DeprecationWarning"
)


def fp32(name: str, *shape: int) -> TensorSpec:
    return TensorSpec(name=name, datatype=Datatype.FP32, shape=shape)


TWO_HEADS = Signature(
    inputs=(fp32("features", -1, 4), fp32("scale", -1, 1)),
    outputs=(fp32("logits", -1, 3), fp32("probabilities", -1, 3)),
)


def inspect(path: Path, artifact_format: ArtifactFormat, signature: Signature | None) -> Signature:
    request = LoadRequest(path=path, format=artifact_format, signature=signature)
    return inspect_artifact(RuntimeName.TORCH, request)


def expected(module: torch.nn.Module, features: np.ndarray, scale: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        results = module(torch.from_numpy(features), torch.from_numpy(scale))
    return [result.numpy() for result in results]


def batch(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "features": rng.normal(size=(n, 4)).astype(np.float32),
        "scale": np.full((n, 1), 2.0, dtype=np.float32),
    }


def test_torchscript_needs_a_declared_signature(scripted_path: Path) -> None:
    with pytest.raises(SchemaMismatch, match="TorchScript file does not describe its inputs"):
        inspect(scripted_path, ArtifactFormat.TORCHSCRIPT, None)


@jit_load_is_deprecated
def test_torchscript_tuple_outputs_take_declared_names_in_order(
    open_runtime: Open, scripted_path: Path, two_heads: torch.nn.Module
) -> None:
    runtime = open_runtime(
        scripted_path, ArtifactFormat.TORCHSCRIPT, signature=TWO_HEADS, parameters={"threads": 1}
    )
    assert runtime.signature == TWO_HEADS
    inputs = batch(5)
    outputs = runtime.predict(inputs)
    logits, probabilities = expected(two_heads, inputs["features"], inputs["scale"])
    np.testing.assert_allclose(outputs["logits"], logits, rtol=1e-6)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=1e-6)


@jit_load_is_deprecated
def test_traced_single_tensor_is_the_first_output_and_fp64_input_is_cast(
    open_runtime: Open, traced_path: Path
) -> None:
    declared = Signature(inputs=(fp32("input", -1, 4),), outputs=(fp32("output", -1, 2),))
    runtime = open_runtime(traced_path, ArtifactFormat.TORCHSCRIPT, signature=declared)
    output = runtime.predict({"input": np.ones((3, 4), dtype=np.float64)})["output"]
    assert output.shape == (3, 2)
    assert output.dtype == np.float32


@jit_load_is_deprecated
def test_torchscript_with_too_few_declared_inputs_is_refused(scripted_path: Path) -> None:
    declared = TWO_HEADS.model_copy(update={"inputs": TWO_HEADS.inputs[:1]})
    with pytest.raises(SchemaMismatch, match=r"forward takes 2 tensors \(features, scale\)"):
        inspect(scripted_path, ArtifactFormat.TORCHSCRIPT, declared)


@jit_load_is_deprecated
def test_torchscript_with_wrong_output_count_is_refused(scripted_path: Path) -> None:
    declared = TWO_HEADS.model_copy(update={"outputs": TWO_HEADS.outputs[:1]})
    with pytest.raises(SchemaMismatch, match="returned 2 values but the signature names 1"):
        inspect(scripted_path, ArtifactFormat.TORCHSCRIPT, declared)


@jit_load_is_deprecated
def test_torchscript_with_wrong_input_shape_is_refused(traced_path: Path) -> None:
    declared = Signature(inputs=(fp32("input", -1, 5),), outputs=(fp32("output", -1, 2),))
    with pytest.raises(SchemaMismatch, match="failed on a batch of zeros shaped like the declared"):
        inspect(traced_path, ArtifactFormat.TORCHSCRIPT, declared)


def test_exported_signature_is_derived(exported_path: Path) -> None:
    signature = inspect(exported_path, ArtifactFormat.TORCH_EXPORT, None)
    assert signature == Signature(
        inputs=TWO_HEADS.inputs,
        outputs=(fp32("output_0", -1, 3), fp32("output_1", -1, 3)),
    )


def test_exported_positional_outputs_take_declared_names(
    open_runtime: Open, exported_path: Path, two_heads: torch.nn.Module
) -> None:
    runtime = open_runtime(exported_path, ArtifactFormat.TORCH_EXPORT, signature=TWO_HEADS)
    assert runtime.signature == TWO_HEADS
    inputs = batch(7)
    outputs = runtime.predict(inputs)
    logits, probabilities = expected(two_heads, inputs["features"], inputs["scale"])
    np.testing.assert_allclose(outputs["logits"], logits, rtol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=1e-5)


def test_exported_dict_outputs_are_named_by_key(
    open_runtime: Open, exported_dict_path: Path
) -> None:
    runtime = open_runtime(exported_dict_path, ArtifactFormat.TORCH_EXPORT)
    names = [output.name for output in runtime.signature.outputs]
    assert names == ["logits", "probabilities"]
    outputs = runtime.predict({"features": np.zeros((2, 4), dtype=np.float32)})
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, rtol=1e-6)


def test_exported_with_wrong_declared_shape_is_refused(exported_path: Path) -> None:
    declared = TWO_HEADS.model_copy(
        update={"inputs": (fp32("features", -1, 5), fp32("scale", -1, 1))}
    )
    with pytest.raises(SchemaMismatch, match=r"'features' declares shape \[-1, 5\] but the artif"):
        inspect(exported_path, ArtifactFormat.TORCH_EXPORT, declared)


def test_truncated_export_is_an_invalid_artifact(
    exported_path: Path, truncated: Callable[[Path], Path]
) -> None:
    with pytest.raises(InvalidArtifact, match="torch_export artifact could not be loaded"):
        inspect(truncated(exported_path), ArtifactFormat.TORCH_EXPORT, None)


def rewritten_archive(source: Path, target: Path, suffix: str, payload: bytes) -> Path:
    """A copy of a .pt2 archive with the member ending in ``suffix`` replaced."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for member in original.infolist():
            data = payload if member.filename.endswith(suffix) else original.read(member)
            copy.writestr(member, data)
    return target


def test_export_with_pickled_sample_inputs_is_refused(exported_path: Path, tmp_path: Path) -> None:
    pickled = io.BytesIO()
    # Fraction is harmless, but the restricted unpickler cannot tell it from a payload.
    torch.save((Fraction(1, 3),), pickled)
    archive = rewritten_archive(
        exported_path, tmp_path / "pickled.pt2", "sample_inputs/model.pt", pickled.getvalue()
    )
    with pytest.raises(UnsafeFormat, match=r"pickled Python objects \(.*sample_inputs/model.pt"):
        inspect(archive, ArtifactFormat.TORCH_EXPORT, None)


def test_export_with_pickled_weights_is_refused(exported_path: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(exported_path) as original:
        name = next(n for n in original.namelist() if n.endswith("_weights_config.json"))
        config = json.loads(original.read(name))
    for entry in config["config"].values():
        entry["use_pickle"] = True
    archive = rewritten_archive(
        exported_path, tmp_path / "pickled.pt2", "_weights_config.json", json.dumps(config).encode()
    )
    with pytest.raises(UnsafeFormat, match=r"weights_config\.json"):
        inspect(archive, ArtifactFormat.TORCH_EXPORT, None)
