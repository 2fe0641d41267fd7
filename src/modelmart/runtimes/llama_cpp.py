"""GGUF chat models run by llama.cpp (llama-cpp-python), streaming token by token.

A version is one ``.gguf`` file: an upload, or a package reference whose assembled directory
holds one. The file carries weights, tokenizer and chat template; a model without a template
is prompted in ChatML, the most common convention of instruction-tuned GGUF models.

Parameters: ``context_length`` (tokens; default the length the model was trained with) and
``threads`` (default every CPU this process may use).

Chat completions go through :meth:`LlamaCppRuntime.generate`. ``predict`` serves the same
model on the plain tensor routes: ``text`` BYTES [-1] in, each text sent as one user
message and answered greedily with at most ``max_tokens`` (parameter, default 128) tokens,
``completion`` BYTES [-1] out.
"""

from __future__ import annotations

import codecs
import importlib.metadata
import os
import secrets
from collections.abc import Generator
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from modelmart.arrays import Batch
from modelmart.errors import ContextLengthExceeded, InvalidArtifact, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    ChatMessage,
    FinishReason,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    StopMatcher,
    TextDelta,
    TextGenerator,
)
from modelmart.runtimes.parameters import positive_int_parameter, texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, RuntimeName

DEFAULT_PREDICT_TOKENS = 128
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LlamaCppRuntime(Runtime, TextGenerator):
    """One llama.cpp context per instance; generations run one at a time."""

    name = RuntimeName.LLAMA_CPP
    label = "llama.cpp"
    _llama: Any = None
    _formatter: Jinja2ChatFormatter | None = None
    _predict_tokens: int = DEFAULT_PREDICT_TOKENS

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.GGUF:
            raise UnsupportedFormat(
                f"the llama.cpp runtime loads GGUF files, not {request.format.value}; convert "
                "the model with llama.cpp's convert_hf_to_gguf.py and upload the .gguf file"
            )
        path = gguf_file(request.path)
        parameters = request.parameters
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=positive_int_parameter(parameters, "context_length") or 0,  # 0: as trained
                n_threads=positive_int_parameter(parameters, "threads")
                or len(os.sched_getaffinity(0)),
                verbose=False,
            )
        except ValueError as exc:  # llama.cpp says only "Failed to load model from file"
            raise InvalidArtifact(
                f"llama.cpp could not load {path.name} ({exc}); check that it is a complete "
                "GGUF file written by a current llama.cpp"
            ) from exc
        self._signature = reconcile(request.signature, CHAT_SIGNATURE)
        self._formatter = _chat_formatter(llama)
        self._predict_tokens = (
            positive_int_parameter(parameters, "max_tokens") or DEFAULT_PREDICT_TOKENS
        )
        self._llama = llama

    @property
    def context_length(self) -> int:
        return int(self._require(self._llama).n_ctx())

    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]:
        llama = self._require(self._llama)
        prompt = self.prompt_tokens(request.messages)
        budget = self._budget(len(prompt), request.max_tokens)
        return self._stream(llama, prompt, budget, request)

    def prompt_tokens(self, messages: tuple[ChatMessage, ...]) -> list[int]:
        """The conversation as the model reads it: its chat template, then its tokenizer."""
        formatter = self._require(self._formatter)
        # llama-cpp-python types messages as a union of TypedDicts; these are plain dicts.
        conversation: Any = [{"role": m.role, "content": m.content} for m in messages]
        rendered = formatter(messages=conversation)
        tokens: list[int] = self._require(self._llama).tokenize(
            rendered.prompt.encode("utf-8"), add_bos=True, special=True
        )
        return tokens

    def _budget(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """Tokens the answer may take; ContextLengthExceeded, as OpenAI words it, if none."""
        window = self.context_length
        room = window - prompt_tokens
        if room <= 0:
            raise ContextLengthExceeded(
                f"this model's maximum context length is {window} tokens, but the messages "
                f"take {prompt_tokens}; shorten or drop messages (the oldest first)",
                details={"param": "messages", "context_length": window, "prompt": prompt_tokens},
            )
        if max_tokens is None:
            return room
        if max_tokens > room:
            raise ContextLengthExceeded(
                f"this model's maximum context length is {window} tokens; the messages take "
                f"{prompt_tokens} and max_tokens asks for {max_tokens} more. Lower max_tokens "
                f"to at most {room} or shorten the messages",
                details={"param": "max_tokens", "context_length": window, "prompt": prompt_tokens},
            )
        return max_tokens

    def _stream(
        self, llama: Any, prompt: list[int], budget: int, request: GenerationRequest
    ) -> Generator[GenerationEvent, None, None]:
        llama.set_seed(request.seed if request.seed is not None else secrets.randbits(31))
        # Evaluate the whole prompt every time: reusing the cached prefix of the last one
        # evaluates it in other batch shapes, which moves the logits enough that the same
        # greedy or seeded request could get a different answer.
        llama.reset()
        tokens = llama.generate(
            prompt,
            temp=request.temperature,
            top_p=request.top_p,
            top_k=0,  # OpenAI's sampling: temperature and top_p only
            min_p=0.0,
            repeat_penalty=1.0,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        matcher = StopMatcher(request.stop)
        produced = 0
        finish: FinishReason = "length"
        try:
            for token in tokens:
                if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    finish = "stop"
                    break
                produced += 1
                text, stopped = matcher.feed(decoder.decode(llama.detokenize([token])))
                if text:
                    yield TextDelta(text)
                if stopped:
                    finish = "stop"
                    break
                if produced >= budget:
                    break
        finally:
            tokens.close()  # stops llama.cpp too when our caller closed us mid-answer
        if finish == "length":
            tail, _ = matcher.feed(decoder.decode(b"", final=True))
            tail += matcher.flush()
            if tail:
                yield TextDelta(tail)
        yield GenerationDone(len(prompt), produced, finish)

    def predict(self, batch: Batch) -> Batch:
        answers = [self._answer(prompt) for prompt in texts(batch["text"])]
        return {"completion": np.array(answers, dtype=object)}

    def _answer(self, prompt: str) -> str:
        room = self.context_length - len(self.prompt_tokens((ChatMessage("user", prompt),)))
        request = GenerationRequest(
            messages=(ChatMessage("user", prompt),),
            max_tokens=max(1, min(self._predict_tokens, room)),
            temperature=0.0,
        )
        events = self.generate(request)
        return "".join(event.text for event in events if isinstance(event, TextDelta))

    def unload(self) -> None:
        if self._llama is not None:
            self._llama.close()
        self._llama, self._formatter = None, None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("llama-cpp-python")
        found = {**super().metadata, "llama_cpp_python_version": version}
        if self._llama is not None:
            found["context_length"] = self.context_length
        return found


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


def _chat_formatter(llama: Any) -> Jinja2ChatFormatter:
    model = llama._model
    template = llama.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(model.token_eos()),
        bos_token=model.token_get_text(model.token_bos()),
    )
