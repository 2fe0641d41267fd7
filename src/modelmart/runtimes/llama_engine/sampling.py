"""Per-sequence sampling: the request's options, and the llama.cpp sampler chain built from
them. Log-probabilities are taken from the raw logits, before any filter of the chain."""

from __future__ import annotations

import ctypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from modelmart.errors import InvalidRequest
from modelmart.runtimes.generation import GenerationRequest, TokenLogprob, TopLogprob

PENALTY_WINDOW = 64
"""Tokens the repetition, presence and frequency penalties look back over (llama.cpp's
default): the answer so far, not the prompt."""


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repetition_penalty: float
    presence_penalty: float
    frequency_penalty: float
    seed: int
    grammar: str | None

    @classmethod
    def of(cls, request: GenerationRequest) -> SamplingOptions:
        """The request's options; a request without a seed gets a fresh random one."""
        return cls(
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            min_p=request.min_p,
            repetition_penalty=request.repetition_penalty,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            seed=request.seed if request.seed is not None else secrets.randbits(31),
            grammar=request.grammar,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    @property
    def penalised(self) -> bool:
        return (
            self.repetition_penalty != 1.0
            or self.presence_penalty != 0.0
            or self.frequency_penalty != 0.0
        )


def log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    result: npt.NDArray[np.float64] = shifted - np.log(np.sum(np.exp(shifted)))
    return result


def token_logprob(
    logits: npt.NDArray[np.float32],
    token: int,
    top: int,
    piece: Callable[[int], bytes],
) -> TokenLogprob:
    """``token``'s log-probability under the raw logits, with the ``top`` most likely."""
    logprobs = log_softmax(logits)
    alternatives: tuple[TopLogprob, ...] = ()
    if top > 0:
        count = min(top, len(logprobs))
        best = np.argpartition(-logprobs, count - 1)[:count]
        ranked = sorted(best.tolist(), key=lambda t: -float(logprobs[t]))
        alternatives = tuple(_top(piece(t), float(logprobs[t])) for t in ranked)
    chosen = piece(token)
    return TokenLogprob(
        chosen.decode("utf-8", errors="replace"),
        float(logprobs[token]),
        tuple(chosen),
        alternatives,
    )


def _top(piece: bytes, logprob: float) -> TopLogprob:
    return TopLogprob(piece.decode("utf-8", errors="replace"), logprob, tuple(piece))


class LlamaSamplerChain:
    """llama.cpp's sampler chain for one sequence: grammar, penalties, then greedy or
    top-k → top-p → min-p → temperature → a seeded draw."""

    def __init__(self, context: Any, vocab: Any, n_vocab: int, options: SamplingOptions) -> None:
        self._context = context
        params = llama_cpp.llama_sampler_chain_default_params()
        self._chain: Any = llama_cpp.llama_sampler_chain_init(params)
        try:
            for sampler in _samplers(vocab, n_vocab, options):
                llama_cpp.llama_sampler_chain_add(self._chain, sampler)
        except BaseException:
            self.close()
            raise

    def sample(self, index: int) -> int:
        # Samples from the context's logits at ``index`` and accepts the token into every
        # sampler of the chain (the grammar advances, the penalties remember it).
        return int(llama_cpp.llama_sampler_sample(self._chain, self._context, index))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)  # frees the samplers added to it
            self._chain = None


def _samplers(vocab: Any, n_vocab: int, options: SamplingOptions) -> list[Any]:
    samplers: list[Any] = []
    if options.grammar:
        grammar = llama_cpp.llama_sampler_init_grammar(
            vocab, options.grammar.encode("utf-8"), b"root"
        )
        if not grammar:
            raise InvalidRequest(
                "the grammar is not valid GBNF (llama.cpp's grammar format) or has no 'root' "
                "rule; check it with llama.cpp's grammar documentation",
                details={"param": "grammar"},
            )
        samplers.append(grammar)
    if options.penalised:
        samplers.append(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab,
                PENALTY_WINDOW,
                options.repetition_penalty,
                options.frequency_penalty,
                options.presence_penalty,
            )
        )
    if options.greedy:
        samplers.append(llama_cpp.llama_sampler_init_greedy())
        return samplers
    if options.top_k > 0:
        samplers.append(llama_cpp.llama_sampler_init_top_k(options.top_k))
    if options.top_p < 1.0:
        samplers.append(llama_cpp.llama_sampler_init_top_p(options.top_p, 1))
    if options.min_p > 0.0:
        samplers.append(llama_cpp.llama_sampler_init_min_p(options.min_p, 1))
    samplers.append(llama_cpp.llama_sampler_init_temp(options.temperature))
    samplers.append(llama_cpp.llama_sampler_init_dist(ctypes.c_uint32(options.seed).value))
    return samplers
