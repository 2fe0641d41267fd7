"""Reconcile the signature a user declares with the one the artifact describes.

The artifact is the authority on names, datatypes and ranks; the declaration may only be more
precise, for example by fixing a dimension the artifact leaves open. Inputs may declare any
datatype of the same family (an FP32 input for an FP64 model) because runtimes cast inputs to
what the artifact takes; outputs must match exactly because they are returned as computed.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelmart.errors import SchemaMismatch
from modelmart.types import Datatype, Signature, TensorSpec

_FAMILIES: dict[Datatype, str] = {
    Datatype.FP16: "floating point",
    Datatype.FP32: "floating point",
    Datatype.FP64: "floating point",
    Datatype.INT8: "integer",
    Datatype.INT16: "integer",
    Datatype.INT32: "integer",
    Datatype.INT64: "integer",
    Datatype.UINT8: "integer",
    Datatype.BOOL: "boolean",
    Datatype.BYTES: "string",
}


def reconcile(declared: Signature | None, derived: Signature) -> Signature:
    """The signature to serve: ``derived`` when nothing was declared, otherwise ``declared``
    with any ``-1`` dimension the artifact fixes filled in.

    Raises :class:`SchemaMismatch` listing every difference when the declaration names other
    tensors, another datatype family (inputs) or datatype (outputs), another rank, or a fixed
    dimension the artifact fixes to a different size.
    """
    if declared is None:
        return derived
    differences = [
        *_differences("input", declared.inputs, derived.inputs),
        *_differences("output", declared.outputs, derived.outputs),
    ]
    if differences:
        raise SchemaMismatch(
            "the declared signature does not match the artifact: "
            + "; ".join(differences)
            + "; fix the signature or omit it to use the artifact's own",
            details={"differences": differences},
        )
    return Signature(
        inputs=_merged(declared.inputs, derived.inputs),
        outputs=_merged(declared.outputs, derived.outputs),
    )


def _differences(
    role: str, declared: Sequence[TensorSpec], derived: Sequence[TensorSpec]
) -> list[str]:
    """Human-readable differences between the declared and derived tensors of one role."""
    found: list[str] = []
    derived_by_name = {spec.name: spec for spec in derived}
    declared_names = {spec.name for spec in declared}
    artifact_names = ", ".join(f"'{spec.name}'" for spec in derived)
    for spec in declared:
        actual = derived_by_name.get(spec.name)
        if actual is None:
            found.append(
                f"{role} '{spec.name}' is declared but the artifact has no such {role} "
                f"(its {role}s are {artifact_names})"
            )
        else:
            found.extend(_spec_differences(role, spec, actual))
    found.extend(
        f"the artifact's {role} '{spec.name}' is not declared"
        for spec in derived
        if spec.name not in declared_names
    )
    return found


def _spec_differences(role: str, declared: TensorSpec, actual: TensorSpec) -> list[str]:
    verb = "takes" if role == "input" else "returns"
    found: list[str] = []
    if not _datatypes_compatible(role, declared.datatype, actual.datatype):
        found.append(
            f"{role} '{declared.name}' declares datatype {declared.datatype.value} "
            f"but the artifact {verb} {actual.datatype.value}"
        )
    if not _shapes_compatible(declared.shape, actual.shape):
        found.append(
            f"{role} '{declared.name}' declares shape {list(declared.shape)} "
            f"but the artifact {verb} {list(actual.shape)}"
        )
    return found


def _datatypes_compatible(role: str, declared: Datatype, actual: Datatype) -> bool:
    if role == "input":
        return _FAMILIES[declared] == _FAMILIES[actual]
    return declared == actual


def _shapes_compatible(declared: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    if len(declared) != len(actual):
        return False
    return all(a == b or -1 in (a, b) for a, b in zip(declared, actual, strict=True))


def _merged(
    declared: Sequence[TensorSpec], derived: Sequence[TensorSpec]
) -> tuple[TensorSpec, ...]:
    """Declared specs, in declared order, with each open dimension taken from the artifact."""
    derived_by_name = {spec.name: spec for spec in derived}
    merged: list[TensorSpec] = []
    for spec in declared:
        actual = derived_by_name[spec.name].shape
        shape = tuple(
            mine if mine != -1 else theirs for mine, theirs in zip(spec.shape, actual, strict=True)
        )
        merged.append(spec.model_copy(update={"shape": shape}))
    return tuple(merged)
