"""Which :class:`~modelmart.types.ArtifactFormat` an upload is, from its name and its bytes.

Only formats that load without running code from the file are accepted. Pickle (and
``torch.save`` files, which are pickles in a zip) can execute anything when loaded, so they
are refused with a message that names the safe format to use instead.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from modelmart.errors import InvalidArtifact, InvalidRequest, UnsafeFormat, UnsupportedFormat
from modelmart.registry.archives import is_zip, list_members
from modelmart.types import ArtifactFormat

ACCEPTED_FORMATS = (
    ".onnx (ONNX), .skops (scikit-learn saved with skops), .pt/.pth/.torchscript (TorchScript, "
    "torch.jit.save), .pt2 (torch.export.save), .gguf (llama.cpp chat models), and "
    ".zip/.tar.gz/.tgz archives of a sentence-transformers or Hugging Face model directory "
    "(safetensors weights) or of an ONNX text encoder directory (model.onnx + tokenizer.json)"
)
SAFE_ALTERNATIVES = (
    "use skops for scikit-learn (skops.io.dump), ONNX for any framework, TorchScript "
    "(torch.jit.save) or torch.export (torch.export.save) for PyTorch, and safetensors for "
    "weights (save_pretrained(dir, safe_serialization=True))"
)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
# Inside model directories these suffixes hold pickled weights (pytorch_model.bin, *.ckpt).
ARCHIVE_PICKLE_SUFFIXES = (*PICKLE_SUFFIXES, ".bin", ".pt", ".pth", ".ckpt")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
DIRECTORY_FORMATS = frozenset(
    {ArtifactFormat.SENTENCE_TRANSFORMERS, ArtifactFormat.TRANSFORMERS, ArtifactFormat.ONNX_TEXT}
)
ONNX_TEXT_FILES = frozenset({"model.onnx", "tokenizer.json"})
SENTENCE_TRANSFORMERS_MARKERS = frozenset({"modules.json", "config_sentence_transformers.json"})
_PICKLE_PROTOCOL_OPCODE = 0x80
GGUF_MAGIC = b"GGUF"
_FILE_FORMATS = {
    ".onnx": ArtifactFormat.ONNX,
    ".skops": ArtifactFormat.SKOPS,
    ".pt": ArtifactFormat.TORCHSCRIPT,
    ".pth": ArtifactFormat.TORCHSCRIPT,
    ".torchscript": ArtifactFormat.TORCHSCRIPT,
    ".pt2": ArtifactFormat.TORCH_EXPORT,
    ".gguf": ArtifactFormat.GGUF,
}


def is_directory_format(artifact_format: ArtifactFormat) -> bool:
    """True for formats uploaded as an archive and served from an unpacked directory."""
    return artifact_format in DIRECTORY_FORMATS


def detect_format(
    path: Path, filename: str, declared: ArtifactFormat | None = None
) -> ArtifactFormat:
    """The format of the upload stored at ``path`` whose client-side name is ``filename``.

    ``declared`` picks the format when the name does not (``model.bin`` declared ``onnx``) or
    chooses between formats one directory supports (a sentence-transformers directory also
    loads as plain ``transformers``). Raises UnsafeFormat for pickles, UnsupportedFormat for
    anything else unknown, InvalidArtifact for truncated files and InvalidRequest when the
    declared format contradicts the file.
    """
    name = filename.lower()
    with path.open("rb") as stream:
        head = stream.read(8)
    if not head:
        raise InvalidArtifact(f"upload {filename!r} is empty; upload the model file itself")
    _refuse_pickle(name, head, filename)
    if name.endswith(ARCHIVE_SUFFIXES) or (
        declared in DIRECTORY_FORMATS and PurePosixPath(name).suffix not in _FILE_FORMATS
    ):
        return _directory_format(path, filename, declared)
    by_name = _FILE_FORMATS.get(PurePosixPath(name).suffix)
    if by_name is None and declared is None and head.startswith(GGUF_MAGIC):
        by_name = ArtifactFormat.GGUF  # GGUF files say what they are in their first bytes
    if by_name is None and declared is None:
        raise UnsupportedFormat(
            f"cannot tell the format of {filename!r} from its name; accepted formats: "
            f"{ACCEPTED_FORMATS}. Rename the file or declare its format"
        )
    if by_name is not None and declared is not None and by_name != declared:
        raise _contradiction(filename, declared, by_name)
    detected = by_name or declared
    assert detected is not None  # one of them is set, checked above
    _check_file_content(path, filename, detected, head)
    return detected


def _refuse_pickle(name: str, head: bytes, filename: str) -> None:
    if name.endswith(PICKLE_SUFFIXES) or head[0] == _PICKLE_PROTOCOL_OPCODE:
        raise UnsafeFormat(
            f"{filename!r} is a pickle, which runs arbitrary code when loaded, so ModelMart "
            f"does not accept it; {SAFE_ALTERNATIVES}",
            details={"filename": filename},
        )


def _contradiction(
    filename: str, declared: ArtifactFormat, detected: ArtifactFormat | str
) -> InvalidRequest:
    return InvalidRequest(
        f"declared format {declared.value!r} does not match {filename!r}, which is "
        f"{detected!s}; declare the right format or leave it out to detect it"
    )


def _check_file_content(
    path: Path, filename: str, artifact_format: ArtifactFormat, head: bytes
) -> None:
    zipped = head.startswith(b"PK\x03\x04")
    if artifact_format is ArtifactFormat.GGUF:
        if not head.startswith(GGUF_MAGIC):
            raise InvalidArtifact(
                f"{filename!r} is not a GGUF file (it does not start with the GGUF magic "
                "bytes); convert the model with llama.cpp's convert_hf_to_gguf.py"
            )
        return
    if artifact_format is ArtifactFormat.ONNX:
        if zipped:
            raise InvalidArtifact(
                f"{filename!r} is a zip archive, not an ONNX model; export the model with "
                "torch.onnx.export or skl2onnx and upload the .onnx file"
            )
        return
    if not zipped:
        raise InvalidArtifact(
            f"{filename!r} should be a {artifact_format.value} file, which is a zip archive, "
            "but it is not one; save it again with the framework's own save function"
        )
    members = list_members(path)  # also proves the zip is complete
    if artifact_format is ArtifactFormat.TORCHSCRIPT and not _is_torchscript(members):
        raise UnsafeFormat(
            f"{filename!r} was written by torch.save (a pickled module), not torch.jit.save; "
            f"pickles run arbitrary code when loaded; {SAFE_ALTERNATIVES}",
            details={"filename": filename},
        )


def _is_torchscript(members: list[str]) -> bool:
    # torch.jit.save archives hold the model's Python source under <archive>/code/ and its
    # tensors' constants in constants.pkl; torch.save archives have only data.pkl.
    return any(
        "/code/" in f"/{member}" or PurePosixPath(member).name == "constants.pkl"
        for member in members
    )


def model_dir_members(files: list[str]) -> set[str]:
    """File names relative to the model directory: without the single top-level folder that
    an archive of ``my-model/`` has (see :func:`modelmart.registry.archives.model_dir`)."""
    paths = [PurePosixPath(name.replace("\\", "/")) for name in files]
    paths = [p for p in paths if p.parts and p.parts[0] != "__MACOSX"]
    strip = len({p.parts[0] for p in paths}) == 1 and all(len(p.parts) > 1 for p in paths)
    return {"/".join(p.parts[1:] if strip else p.parts) for p in paths}


def _directory_format(path: Path, filename: str, declared: ArtifactFormat | None) -> ArtifactFormat:
    if declared is not None and declared not in DIRECTORY_FORMATS:
        raise _contradiction(filename, declared, "an archive of a model directory")
    if not is_zip(path) and filename.lower().endswith(".zip"):
        raise InvalidArtifact(f"{filename!r} is named .zip but is not a zip archive")
    members = model_dir_members(list_members(path))
    unsafe = sorted(m for m in members if m.lower().endswith(ARCHIVE_PICKLE_SUFFIXES))
    if unsafe:
        raise UnsafeFormat(
            f"archive {filename!r} holds pickled files ({', '.join(unsafe[:5])}), which run "
            f"arbitrary code when loaded; remove them and {SAFE_ALTERNATIVES}",
            details={"filename": filename, "entries": unsafe},
        )
    supported = _directory_formats_of(members)
    if not supported:
        raise UnsupportedFormat(
            f"archive {filename!r} is not a model directory: it has no modules.json or "
            "config_sentence_transformers.json (sentence-transformers), config.json (Hugging "
            "Face) or model.onnx + tokenizer.json (ONNX text encoder) at its top level; "
            f"accepted formats: {ACCEPTED_FORMATS}"
        )
    if declared is None:
        return supported[0]
    if declared not in supported:
        raise _contradiction(filename, declared, f"a {supported[0].value} model directory")
    return declared


def _directory_formats_of(members: set[str]) -> list[ArtifactFormat]:
    """The formats a model directory loads as, preferred first."""
    found: list[ArtifactFormat] = []
    if members >= ONNX_TEXT_FILES:
        found.append(ArtifactFormat.ONNX_TEXT)
    if members & SENTENCE_TRANSFORMERS_MARKERS:
        found.append(ArtifactFormat.SENTENCE_TRANSFORMERS)
    if "config.json" in members:
        found.append(ArtifactFormat.TRANSFORMERS)
    return found
