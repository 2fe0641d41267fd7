"""GGUF chat models run by llama.cpp (llama-cpp-python), many answers at once.

A version is one ``.gguf`` file: an upload, or a package reference whose assembled directory
holds one. The file carries weights, tokenizer and chat template; a model without a template
is prompted in ChatML, the most common convention of instruction-tuned GGUF models.

Parameters: ``context_length`` (tokens of the KV cache that all sequences of an instance
share; default the length the model was trained with), ``threads`` (default every CPU this
process may use), ``parallel`` (sequences one instance decodes together, default 4),
``queue_limit`` (requests that may wait for a sequence slot beyond those, default 64; more
are refused with 503 ``overloaded``), ``prefix_cache`` (default true: keep finished
sequences' KV cells to reuse for prompts that start the same way).

Generations run on the :class:`~modelmart.runtimes.llama_engine.engine.LlamaEngine`
(continuous batching: see that package for what is and is not bit-for-bit deterministic).
``predict`` serves the same model on the plain tensor routes: ``text`` BYTES [-1] in, each
text sent as one user message and answered greedily with at most ``max_tokens`` (parameter,
default 128) tokens, ``completion`` BYTES [-1] out.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from modelmart.arrays import Batch
from modelmart.errors import InferenceError, InvalidArtifact, InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    ChatMessage,
    GenerationDone,
    GenerationEngine,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    TextGenerator,
)
from modelmart.runtimes.llama_engine.chat_template import template_inputs, template_knows_tools
from modelmart.runtimes.llama_engine.engine import EngineConfig, LlamaEngine
from modelmart.runtimes.llama_engine.llama_backend import LlamaBackend
from modelmart.runtimes.parameters import bool_parameter, positive_int_parameter, texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, RuntimeName

DEFAULT_PREDICT_TOKENS = 128
DEFAULT_PARALLEL = 4
DEFAULT_QUEUE_LIMIT = 64
BATCH_TOKENS = 63
"""Tokens per decode. llama.cpp's CPU flash attention rounds differently from 64 tokens a
batch on, so a prompt read in one large batch could differ in the last bits from the same
prompt read in chunks next to other sequences; below that, every token gets the same logits
however it is batched (see the llama_engine package docstring)."""
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LlamaCppRuntime(Runtime, TextGenerator):
    """One llama.cpp context per instance, shared by up to ``parallel`` sequences."""

    name = RuntimeName.LLAMA_CPP
    label = "llama.cpp"
    _backend: LlamaBackend | None = None
    _engine: LlamaEngine | None = None
    _formatter: Jinja2ChatFormatter | None = None
    _knows_tools: bool = False
    _predict_tokens: int = DEFAULT_PREDICT_TOKENS

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.GGUF:
            raise UnsupportedFormat(
                f"the llama.cpp runtime loads GGUF files, not {request.format.value}; convert "
                "the model with llama.cpp's convert_hf_to_gguf.py and upload the .gguf file"
            )
        path = gguf_file(request.path)
        parameters = request.parameters
        parallel = positive_int_parameter(parameters, "parallel") or DEFAULT_PARALLEL
        if parallel > BATCH_TOKENS:
            raise InvalidRequest(
                f"parameter 'parallel' is {parallel}; at most {BATCH_TOKENS} sequences decode "
                "together in one llama.cpp instance. Deploy more instances instead"
            )
        config = EngineConfig(
            parallel=parallel,
            queue_limit=positive_int_parameter(parameters, "queue_limit") or DEFAULT_QUEUE_LIMIT,
            prefix_cache=bool_parameter(parameters, "prefix_cache", True),
        )
        backend = LlamaBackend(
            path,
            n_ctx=positive_int_parameter(parameters, "context_length") or 0,  # 0: as trained
            # Twice the slots: finished sequences keep theirs as prefix-cache entries.
            n_seq_max=2 * parallel,
            n_batch=BATCH_TOKENS,
            threads=positive_int_parameter(parameters, "threads") or len(os.sched_getaffinity(0)),
        )
        self._signature = reconcile(request.signature, CHAT_SIGNATURE)
        template = backend.model.metadata().get("tokenizer.chat_template") or CHATML_TEMPLATE
        self._formatter = _chat_formatter(backend, template)
        self._knows_tools = template_knows_tools(template)
        self._predict_tokens = (
            positive_int_parameter(parameters, "max_tokens") or DEFAULT_PREDICT_TOKENS
        )
        self._backend = backend
        self._engine = LlamaEngine(backend, self.encode, config)

    @property
    def context_length(self) -> int:
        return self._require(self._backend).n_ctx

    def engine(self) -> GenerationEngine:
        return self._require(self._engine)

    def encode(self, request: GenerationRequest) -> list[int]:
        """The request as the model reads it: a raw prompt as it is, else the conversation
        through its chat template; then the tokenizer."""
        backend = self._require(self._backend)
        if request.prompt is not None:
            return backend.tokenize(request.prompt, add_bos=True, special=True)
        formatter = self._require(self._formatter)
        messages, tools = template_inputs(request, self._knows_tools)
        # llama-cpp-python types messages as a union of TypedDicts; these are plain dicts.
        conversation: Any = messages
        listed: Any = tools
        rendered = formatter(messages=conversation, tools=listed)
        return backend.tokenize(rendered.prompt, add_bos=True, special=True)

    def prompt_tokens(self, messages: tuple[ChatMessage, ...]) -> list[int]:
        """The conversation as the model reads it (its prompt tokens)."""
        return self.encode(GenerationRequest(messages=messages))

    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]:
        """One generation, driving the engine here (for use without the serving layer, which
        drives the engine itself; the two must not run at once)."""
        engine = self._require(self._engine)
        if engine.has_work:
            raise InferenceError("this runtime's engine is busy; generate one request at a time")
        rid = f"direct-{next(_direct_ids)}"
        engine.submit(rid, request)  # request errors are raised here, before any event
        return _drive(engine, rid)

    def prediction_requests(self, prompts: Sequence[str]) -> list[GenerationRequest]:
        requests = []
        for prompt in prompts:
            messages = (ChatMessage("user", prompt),)
            room = self.context_length - len(self.prompt_tokens(messages))
            tokens = max(1, min(self._predict_tokens, room))
            requests.append(GenerationRequest(messages, max_tokens=tokens, temperature=0.0))
        return requests

    def predict(self, batch: Batch) -> Batch:
        answers = complete_all(self.engine(), self.prediction_requests(texts(batch["text"])))
        return {"completion": np.array(answers, dtype=object)}

    def unload(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self._backend is not None:
            self._backend.close()
        self._backend, self._engine, self._formatter = None, None, None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("llama-cpp-python")
        found = {**super().metadata, "llama_cpp_python_version": version}
        if self._backend is not None:
            found["context_length"] = self.context_length
            found["parallel"] = self._require(self._engine).parallel
        return found


_direct_ids = itertools.count()


def _drive(engine: GenerationEngine, rid: str) -> Generator[GenerationEvent, None, None]:
    finished = False
    try:
        while not finished:
            for item_rid, item in engine.step():
                if item_rid != rid:
                    continue
                if isinstance(item, Exception):
                    finished = True
                    raise item
                finished = isinstance(item, GenerationDone)
                yield item
    finally:
        if not finished:
            engine.cancel(rid)
            while engine.has_work:  # let the engine free the cancelled sequence's cells
                engine.step()


def complete_all(engine: GenerationEngine, requests: list[GenerationRequest]) -> list[str]:
    """Every request's whole answer, the requests decoded together."""
    rids = [f"complete-{next(_direct_ids)}" for _ in requests]
    answers = {rid: "" for rid in rids}
    for rid, request in zip(rids, requests, strict=True):
        engine.submit(rid, request)
    pending = set(rids)
    while pending:
        for rid, item in engine.step():
            if isinstance(item, Exception):
                for other in pending - {rid}:
                    engine.cancel(other)
                raise item
            if isinstance(item, TextDelta):
                answers[rid] += item.text
            else:
                pending.discard(rid)
    return [answers[rid] for rid in rids]


def gguf_file(path: Path) -> Path:
    """``path`` itself, or the one ``.gguf`` file in the directory ``path``."""
    if not path.is_dir():
        return path
    found = sorted(path.glob("*.gguf"))
    if len(found) != 1:
        raise InvalidArtifact(
            f"a GGUF model directory must hold exactly one .gguf file; {path.name} holds "
            f"{len(found)}"
        )
    return found[0]


def _chat_formatter(backend: LlamaBackend, template: str) -> Jinja2ChatFormatter:
    model = backend.model
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(model.token_eos()),
        bos_token=model.token_get_text(model.token_bos()),
    )
