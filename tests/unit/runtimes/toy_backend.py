"""A toy model for the engine: exact arithmetic instead of llama.cpp, and strict checks.

Its next token depends on every token its sequence holds, so a prefix copied from the wrong
sequence or a token at the wrong position changes the answer; ``decode`` refuses positions
that do not continue their sequence. Module-level, so worker processes can import it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from modelmart.arrays import Batch
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    GenerationEngine,
    GenerationEvent,
    GenerationRequest,
    TextGenerator,
)
from modelmart.runtimes.llama_engine.backend import BatchToken
from modelmart.runtimes.llama_engine.engine import EngineConfig, LlamaEngine
from modelmart.runtimes.llama_engine.sampling import SamplingOptions
from modelmart.types import RuntimeName, Signature

VOCAB = 27  # token 0 ends the generation; 1..26 are the letters a..z
END = 0


def letters(text: str) -> list[int]:
    return [1 + (ord(c) % 26) for c in text]


CRASH = "crash"  # the worker process dies when it reads this prompt


def encode(request: GenerationRequest) -> list[int]:
    text = request.prompt if request.prompt is not None else request.messages[-1].content
    if text == CRASH:
        os._exit(7)
    return letters(text)


@dataclass
class ToySampler:
    backend: ToyBackend
    options: SamplingOptions
    draws: int = 0

    def sample(self, index: int) -> int:
        logits = self.backend.logits(index)
        if self.options.greedy:
            return int(np.argmax(logits))
        rng = np.random.default_rng(self.options.seed + self.draws)
        self.draws += 1
        weights = np.exp(logits / self.options.temperature)
        return int(rng.choice(len(logits), p=weights / weights.sum()))

    def close(self) -> None:
        self.backend.open_samplers -= 1


@dataclass
class ToyBackend:
    n_ctx: int = 256
    n_batch: int = 64
    n_seq_max: int = 8
    end_every: int = 0  # when > 0, END is likely once a sequence holds this many tokens
    cells: dict[int, list[int]] = field(default_factory=dict)
    batches: list[list[BatchToken]] = field(default_factory=list)
    open_samplers: int = 0
    fail_next_decode: bool = False
    delay_s: float = 0.0  # per decode, to keep generations in flight in serving tests
    _states: dict[int, list[int]] = field(default_factory=dict)

    def decode(self, tokens: list[BatchToken]) -> None:
        if self.fail_next_decode:
            self.fail_next_decode = False
            raise RuntimeError("the toy model cannot decode this batch")
        assert 0 < len(tokens) <= self.n_batch
        time.sleep(self.delay_s)
        self._states = {}
        for index, item in enumerate(tokens):
            held = self.cells.setdefault(item.seq_id, [])
            assert item.position == len(held), f"position {item.position} after {len(held)}"
            held.append(item.token)
            if item.wants_logits:
                self._states[index] = list(held)
        assert self.used_cells() <= self.n_ctx
        self.batches.append(tokens)

    def logits(self, index: int) -> npt.NDArray[np.float32]:
        held = self._states[index]
        logits = np.zeros(VOCAB, dtype=np.float32)
        favourite = 1 + (sum(t * (i + 1) for i, t in enumerate(held)) % (VOCAB - 1))
        logits[favourite] = 4.0
        logits[(favourite % (VOCAB - 1)) + 1] = 3.0
        if self.end_every and len(held) % self.end_every == 0:
            logits[END] = 5.0
        return logits

    def new_sampler(self, options: SamplingOptions) -> ToySampler:
        self.open_samplers += 1
        return ToySampler(self, options)

    def piece(self, token: int) -> bytes:
        return b"" if token == END else chr(ord("a") + token - 1).encode()

    def is_end_of_generation(self, token: int) -> bool:
        return token == END

    def remove(self, seq_id: int, start: int = 0) -> None:
        del self.cells.setdefault(seq_id, [])[start:]

    def copy(self, source: int, target: int, length: int) -> None:
        assert not self.cells.get(target), "copying into a sequence that holds cells"
        self.cells[target] = list(self.cells[source][:length])

    def used_cells(self) -> int:
        # Shared prefixes count once per sequence here: the engine's budget counts the same.
        return sum(len(held) for held in self.cells.values())


def toy_engine(
    backend: ToyBackend | None = None, **config: int | bool
) -> tuple[LlamaEngine, ToyBackend]:
    backend = backend or ToyBackend()
    return LlamaEngine(backend, encode, EngineConfig(**config)), backend  # type: ignore[arg-type]


class ToyRuntime(Runtime, TextGenerator):
    """A chat runtime on the toy engine (``parallel`` 4), for the serving layer's tests."""

    name = RuntimeName.LLAMA_CPP

    def load(self, request: LoadRequest) -> None:
        self._signature = CHAT_SIGNATURE
        backend = ToyBackend(n_ctx=512, delay_s=float(request.parameters.get("delay_s", 0.0)))
        self._engine, _ = toy_engine(backend, parallel=4, queue_limit=8)

    @property
    def signature(self) -> Signature:
        return CHAT_SIGNATURE

    @property
    def context_length(self) -> int:
        return self._engine.context_length

    def engine(self) -> GenerationEngine:
        return self._engine

    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]:
        raise AssertionError("the serving layer drives the engine")

    def predict(self, batch: Batch) -> Batch:
        raise AssertionError("the serving layer sends a chat model's batches to its engine")


def make_toy(name: RuntimeName) -> Runtime:
    return ToyRuntime()
