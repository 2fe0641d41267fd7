"""The one abstraction every framework adapter implements, and the dispatch that picks one.

A runtime is ``load(artifact)``, ``predict(batch)``, ``unload()`` plus the signature it serves.
Adapters run inside a worker (a process or a thread) and may block: the serving layer wraps
them once, at this boundary, so nothing here is async.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from modelmart.arrays import Batch
from modelmart.errors import InvalidArtifact, ModelMartError, NotReady
from modelmart.types import ArtifactFormat, RuntimeName, Signature, Task


@dataclass(frozen=True)
class LoadRequest:
    """Everything a runtime needs to load one model version. Picklable, so it can cross into
    a worker process.

    ``path`` is a file for single-file formats and a directory for unpacked archives.
    ``signature`` is the declared signature; formats that cannot describe themselves
    (TorchScript) require it, the rest check it against what the artifact says. ``cpus`` are
    the CPUs the process that loads it is pinned to first (empty: any); runtimes ignore it.
    """

    path: Path
    format: ArtifactFormat
    task: Task = Task.CUSTOM
    signature: Signature | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    cpus: tuple[int, ...] = ()


_Loaded = TypeVar("_Loaded")


class Runtime(ABC):
    """A loaded model. One instance serves one model version in one worker.

    Subclasses set ``_signature`` in ``load``, guard ``predict`` with :meth:`_require`, and
    drop their own loaded objects in ``unload`` before calling ``super().unload()``.
    """

    name: RuntimeName
    _signature: Signature | None = None

    @property
    def label(self) -> str:
        """How messages name this runtime ("scikit-learn"); ``name``'s value unless overridden."""
        return self.name.value

    @abstractmethod
    def load(self, request: LoadRequest) -> None:
        """Load the artifact; raise :class:`~modelmart.errors.InvalidArtifact` or
        :class:`~modelmart.errors.SchemaMismatch` with a message that says how to fix it."""

    @property
    def signature(self) -> Signature:
        """What the loaded model accepts and returns (valid after ``load``)."""
        return self._require(self._signature)

    @abstractmethod
    def predict(self, batch: Batch) -> Batch:
        """Run one batch: every input and output array has the batch size as first dimension."""

    def unload(self) -> None:
        """Release what ``load`` took. Most runtimes free memory by dropping references."""
        self._signature = None

    def _require(self, loaded: _Loaded | None) -> _Loaded:
        """``loaded``, or :class:`~modelmart.errors.NotReady` when ``load`` has not set it."""
        if loaded is None:
            raise NotReady(f"the {self.label} runtime has no model loaded; call load() first")
        return loaded

    @property
    def metadata(self) -> dict[str, Any]:
        """Framework facts worth showing on the model page (versions, devices, opsets)."""
        return {"runtime": self.name.value}


_RUNTIME_MODULES: dict[RuntimeName, tuple[str, str]] = {
    RuntimeName.SKLEARN: ("modelmart.runtimes.sklearn", "SklearnRuntime"),
    RuntimeName.ONNX: ("modelmart.runtimes.onnx", "OnnxRuntime"),
    RuntimeName.TORCH: ("modelmart.runtimes.torch", "TorchRuntime"),
    RuntimeName.TRANSFORMERS: ("modelmart.runtimes.transformers", "TransformersRuntime"),
    RuntimeName.ONNX_TEXT: ("modelmart.runtimes.onnx_text", "OnnxTextRuntime"),
    RuntimeName.VADER: ("modelmart.runtimes.vader", "VaderRuntime"),
    RuntimeName.LANGID: ("modelmart.runtimes.langid", "LangidRuntime"),
    RuntimeName.LLAMA_CPP: ("modelmart.runtimes.llama_cpp", "LlamaCppRuntime"),
    RuntimeName.POCKETSPHINX: ("modelmart.runtimes.pocketsphinx", "PocketsphinxRuntime"),
    RuntimeName.HIBARI: ("modelmart.runtimes.hibari", "HibariRuntime"),
    RuntimeName.IMAGE_CLASSIFIER: (
        "modelmart.runtimes.vision.classifier",
        "ImageClassifierRuntime",
    ),
    RuntimeName.FACE_DETECTOR: ("modelmart.runtimes.vision.faces", "FaceDetectorRuntime"),
    RuntimeName.FACE_EMBEDDER: ("modelmart.runtimes.vision.faces", "FaceEmbedderRuntime"),
    RuntimeName.OCR: ("modelmart.runtimes.vision.ocr", "OcrRuntime"),
    RuntimeName.PRESIDIO: ("modelmart.runtimes.presidio", "PresidioRuntime"),
    RuntimeName.APERTIUM: ("modelmart.runtimes.apertium", "ApertiumRuntime"),
}


def create_runtime(name: RuntimeName) -> Runtime:
    """A fresh, unloaded runtime. Modules are imported here, not at start-up, so a server that
    only serves scikit-learn models never imports torch."""
    module_name, class_name = _RUNTIME_MODULES[name]
    runtime_class: type[Runtime] = getattr(importlib.import_module(module_name), class_name)
    return runtime_class()


def inspect_artifact(name: RuntimeName, request: LoadRequest) -> Signature:
    """Load the artifact once to prove it works and learn its signature, then unload it."""
    runtime = create_runtime(name)
    try:
        runtime.load(request)
        return runtime.signature
    except ModelMartError:
        raise
    except Exception as exc:  # frameworks raise anything on a bad file; say which file it was
        raise InvalidArtifact(
            f"the {request.format.value} artifact could not be loaded ({exc}); check that it "
            "is complete and was saved in that format"
        ) from exc
    finally:
        runtime.unload()
