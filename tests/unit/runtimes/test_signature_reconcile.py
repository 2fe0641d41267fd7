import pytest

from modelmart.errors import SchemaMismatch
from modelmart.runtimes.signatures import reconcile
from modelmart.types import Datatype, Signature, TensorSpec


def spec(name: str, datatype: Datatype, *shape: int) -> TensorSpec:
    return TensorSpec(name=name, datatype=datatype, shape=shape)


ARTIFACT = Signature(
    inputs=(spec("input", Datatype.FP64, -1, 4),),
    outputs=(spec("label", Datatype.INT64, -1), spec("probabilities", Datatype.FP32, -1, -1)),
)


def test_nothing_declared_serves_the_artifacts_own() -> None:
    assert reconcile(None, ARTIFACT) is ARTIFACT


def test_identical_declaration_is_accepted() -> None:
    assert reconcile(ARTIFACT, ARTIFACT) == ARTIFACT


def test_declaration_may_narrow_open_dimensions() -> None:
    declared = Signature(
        inputs=(spec("input", Datatype.FP64, -1, 4),),
        outputs=(spec("label", Datatype.INT64, -1), spec("probabilities", Datatype.FP32, -1, 3)),
    )
    assert reconcile(declared, ARTIFACT).outputs[1].shape == (-1, 3)


def test_open_declared_dimensions_take_the_artifacts_fixed_size() -> None:
    declared = ARTIFACT.model_copy(update={"inputs": (spec("input", Datatype.FP64, -1, -1),)})
    assert reconcile(declared, ARTIFACT).inputs[0].shape == (-1, 4)


def test_inputs_may_declare_another_datatype_of_the_same_family() -> None:
    declared = ARTIFACT.model_copy(update={"inputs": (spec("input", Datatype.FP32, -1, 4),)})
    assert reconcile(declared, ARTIFACT).inputs[0].datatype is Datatype.FP32


def test_declared_order_is_kept() -> None:
    declared = ARTIFACT.model_copy(update={"outputs": tuple(reversed(ARTIFACT.outputs))})
    names = [output.name for output in reconcile(declared, ARTIFACT).outputs]
    assert names == ["probabilities", "label"]


def test_wrong_fixed_dimension_is_reported_with_both_shapes_and_the_fix() -> None:
    declared = ARTIFACT.model_copy(update={"inputs": (spec("input", Datatype.FP64, -1, 5),)})
    with pytest.raises(SchemaMismatch) as caught:
        reconcile(declared, ARTIFACT)
    message = caught.value.message
    assert "input 'input' declares shape [-1, 5] but the artifact takes [-1, 4]" in message
    assert message.endswith("fix the signature or omit it to use the artifact's own")


def test_every_difference_is_listed() -> None:
    declared = Signature(
        inputs=(spec("features", Datatype.FP64, -1, 4),),
        outputs=(spec("label", Datatype.BYTES, -1), spec("probabilities", Datatype.FP32, -1)),
    )
    with pytest.raises(SchemaMismatch) as caught:
        reconcile(declared, ARTIFACT)
    differences = caught.value.details["differences"]
    assert differences == [
        "input 'features' is declared but the artifact has no such input (its inputs are 'input')",
        "the artifact's input 'input' is not declared",
        "output 'label' declares datatype BYTES but the artifact returns INT64",
        "output 'probabilities' declares shape [-1] but the artifact returns [-1, -1]",
    ]


def test_inputs_of_another_family_are_refused() -> None:
    declared = ARTIFACT.model_copy(update={"inputs": (spec("input", Datatype.INT64, -1, 4),)})
    with pytest.raises(SchemaMismatch, match="declares datatype INT64 but the artifact takes FP64"):
        reconcile(declared, ARTIFACT)


def test_outputs_must_match_datatype_exactly() -> None:
    outputs = (spec("label", Datatype.INT32, -1), ARTIFACT.outputs[1])
    declared = ARTIFACT.model_copy(update={"outputs": outputs})
    with pytest.raises(SchemaMismatch, match="declares datatype INT32 but the artifact returns"):
        reconcile(declared, ARTIFACT)
