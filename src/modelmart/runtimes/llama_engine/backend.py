"""What the engine needs from a model: decode a batch of tokens of many sequences, read the
logits of chosen positions, sample, and edit the sequences' KV cache.

:class:`~modelmart.runtimes.llama_engine.llama_backend.LlamaBackend` is the llama.cpp one;
tests drive the engine with a small fake that checks every position it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modelmart.runtimes.llama_engine.sampling import SamplingOptions


@dataclass(frozen=True)
class BatchToken:
    """One token of a decode batch: where it goes and whether its logits are wanted."""

    token: int
    position: int
    seq_id: int
    wants_logits: bool


class TokenSampler(Protocol):
    """A sequence's own sampler chain (it remembers the tokens it chose: penalties, grammar)."""

    def sample(self, index: int) -> int:
        """The token chosen from the logits at batch index ``index`` of the last decode."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """A loaded model with one context of ``n_ctx`` KV cells shared by ``n_seq_max``
    sequence ids, decoding at most ``n_batch`` tokens per call."""

    n_ctx: int
    n_batch: int
    n_seq_max: int

    def decode(self, tokens: list[BatchToken]) -> None: ...

    def logits(self, index: int) -> npt.NDArray[np.float32]:
        """The raw logits at batch index ``index`` of the last decode (a copy)."""
        ...

    def new_sampler(self, options: SamplingOptions) -> TokenSampler: ...

    def piece(self, token: int) -> bytes: ...

    def is_end_of_generation(self, token: int) -> bool: ...

    def remove(self, seq_id: int, start: int = 0) -> None:
        """Free the cells of ``seq_id`` from position ``start`` on."""
        ...

    def copy(self, source: int, target: int, length: int) -> None:
        """Let ``target`` share the first ``length`` positions of ``source``."""
        ...
