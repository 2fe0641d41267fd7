"""scikit-learn estimators and pipelines saved with skops.

skops files describe objects instead of pickling them, and can name the types they need. Only
types from scikit-learn, NumPy and SciPy (plus the builtins skops already trusts) are loaded;
anything else could run code on load or at predict time, so it is refused.

Derived signature, for an estimator fitted on ``n`` numeric features::

    inputs:  input          FP64  [-1, n]     (BYTES [-1] for pipelines that start from text)
    outputs: label          INT64 | BYTES | FP64 | BOOL [-1]   classifiers, by the classes' type
             probabilities  FP32  [-1, n_classes]             classifiers with predict_proba
             prediction     FP64  [-1] or [-1, k]             regressors
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sklearn
import skops.io as sio
from sklearn.base import is_classifier, is_regressor

from modelmart.arrays import Array, Batch, datatype_of, numpy_dtype
from modelmart.errors import UnsafeFormat, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.")

_LABEL_DATATYPES: dict[str, Datatype] = {
    "i": Datatype.INT64,
    "u": Datatype.INT64,
    "b": Datatype.BOOL,
    "f": Datatype.FP64,
    "O": Datatype.BYTES,
    "U": Datatype.BYTES,
    "S": Datatype.BYTES,
}


def load_trusted(path: str) -> Any:
    """The object in a skops file, refusing types outside scikit-learn, NumPy and SciPy.

    Raises :class:`UnsafeFormat` naming every type it would have had to trust.
    """
    needed = sio.get_untrusted_types(file=path)
    untrusted = sorted(name for name in needed if not name.startswith(TRUSTED_MODULE_PREFIXES))
    if untrusted:
        raise UnsafeFormat(
            f"the skops file needs types outside scikit-learn, NumPy and SciPy: "
            f"{', '.join(untrusted)}; loading them could run arbitrary code, so rebuild the "
            "model from scikit-learn components only",
            details={"untrusted_types": untrusted},
        )
    return sio.load(path, trusted=needed)


class SklearnRuntime(Runtime):
    """Serves one skops-saved classifier, regressor or pipeline ending in one."""

    name = RuntimeName.SKLEARN
    label = "scikit-learn"
    _model: Any = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.SKOPS:
            raise UnsupportedFormat(
                f"the scikit-learn runtime loads skops files, not {request.format.value}; "
                "save the estimator with skops.io.dump"
            )
        model = load_trusted(str(request.path))
        derived = _derive_signature(model)
        self._signature = reconcile(request.signature, derived)
        self._model = model

    def predict(self, batch: Batch) -> Batch:
        return _run(self._require(self._model), batch["input"])

    def unload(self) -> None:
        self._model = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        estimator = "" if self._model is None else type(self._model).__name__
        return {**super().metadata, "sklearn_version": sklearn.__version__, "estimator": estimator}


def _run(model: Any, features: Array) -> Batch:
    """Every output the model's signature promises, for one batch of features."""
    if is_classifier(model):
        labels = np.asarray(model.predict(features))
        outputs = {"label": _as_label_array(labels)}
        if hasattr(model, "predict_proba"):
            probabilities = model.predict_proba(features)
            outputs["probabilities"] = np.asarray(probabilities, dtype=np.float32)
        return outputs
    return {"prediction": np.asarray(model.predict(features), dtype=np.float64)}


def _as_label_array(labels: Array) -> Array:
    datatype = _LABEL_DATATYPES.get(labels.dtype.kind, Datatype.BYTES)
    if datatype is Datatype.BYTES:
        # Strings travel as object arrays of str, never fixed-width NumPy unicode.
        return np.array([str(label) for label in labels.ravel()], dtype=object).reshape(
            labels.shape
        )
    return labels.astype(numpy_dtype(datatype))


def _derive_signature(model: Any) -> Signature:
    """What the estimator takes and returns, learned from its fitted attributes and one
    prediction on a row of zeros (which also proves the model runs)."""
    if not (is_classifier(model) or is_regressor(model)):
        raise UnsupportedFormat(
            f"{type(model).__name__} is neither a classifier nor a regressor; the scikit-learn "
            "runtime serves estimators (or pipelines ending in one) that predict"
        )
    if isinstance(getattr(model, "classes_", None), list):
        raise UnsupportedFormat(
            "multi-output classifiers are not supported; serve one classifier per target"
        )
    input_spec, probe = _input_spec_and_probe(model)
    outputs = _run(model, probe)
    output_specs = tuple(_batched_spec(name, value) for name, value in outputs.items())
    return Signature(inputs=(input_spec,), outputs=output_specs)


def _batched_spec(name: str, value: Array) -> TensorSpec:
    datatype = datatype_of(value.dtype)
    return TensorSpec(name=name, datatype=datatype, shape=(-1, *value.shape[1:]))


def _input_spec_and_probe(model: Any) -> tuple[TensorSpec, Array]:
    n_features = getattr(model, "n_features_in_", None)
    if n_features is None:
        # Text pipelines (a vectorizer first) take raw documents and record no feature count.
        spec = TensorSpec(name="input", datatype=Datatype.BYTES, shape=(-1,))
        return spec, np.array([""], dtype=object)
    spec = TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, int(n_features)))
    return spec, np.zeros((1, int(n_features)), dtype=np.float64)
