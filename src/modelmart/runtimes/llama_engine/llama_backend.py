"""The llama.cpp backend: one model, one context whose unified KV cache holds every
sequence, and one reusable ``llama_batch``."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import _internals, _logger

from modelmart.errors import InferenceError, InvalidArtifact
from modelmart.runtimes.llama_engine.backend import BatchToken
from modelmart.runtimes.llama_engine.sampling import LlamaSamplerChain, SamplingOptions

PIECE_BUFFER = 256
"""Bytes for one token's text; llama.cpp says how many it needs when that is not enough."""


class LlamaBackend:
    """Owns the llama.cpp model and context; everything runs in the caller's thread."""

    def __init__(
        self, path: Path, *, n_ctx: int, n_seq_max: int, n_batch: int, threads: int
    ) -> None:
        _logger.set_verbose(False)  # llama.cpp logs every graph it reserves otherwise
        model_params = llama_cpp.llama_model_default_params()
        try:
            self.model = _internals.LlamaModel(
                path_model=str(path), params=model_params, verbose=False
            )
        except ValueError as exc:  # llama.cpp says only "Failed to load model from file"
            raise InvalidArtifact(
                f"llama.cpp could not load {path.name} ({exc}); check that it is a complete "
                "GGUF file written by a current llama.cpp"
            ) from exc
        self.vocab: Any = self.model.vocab
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx or self.model.n_ctx_train()
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq_max + 1  # the last id pads one-token batches (see decode)
        params.kv_unified = True  # one pool of cells: sequences share prefixes and space
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        # Flash attention makes a token's logits independent of where its sequence's cells
        # lie in the shared cache (the plain attention path sums over every cell in view,
        # masked ones included, and so rounds differently when other sequences' cells sit
        # in between); see the package docstring.
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        try:
            self.context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        except ValueError as exc:
            self.model.close()  # type: ignore[no-untyped-call]
            raise InvalidArtifact(
                f"llama.cpp could not make a context of {params.n_ctx} tokens for "
                f"{path.name} ({exc}); lower the context_length or parallel parameter"
            ) from exc
        self.ctx: Any = self.context.ctx
        self.memory: Any = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self.ctx))
        self.n_batch = int(llama_cpp.llama_n_batch(self.ctx))
        self._padding_seq = int(llama_cpp.llama_n_seq_max(self.ctx)) - 1
        self.n_seq_max = self._padding_seq
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(PIECE_BUFFER)

    def decode(self, tokens: list[BatchToken]) -> None:
        if len(tokens) == 1:
            # With one token, llama.cpp's CPU flash attention splits a cache view of 512 cells
            # or more across threads and merges the parts, which rounds differently from the
            # path every larger batch takes. A throwaway token of a spare sequence keeps one
            # running answer on that same path (and costs about nothing: decoding is bound by
            # reading the weights).
            tokens = [*tokens, BatchToken(tokens[0].token, 0, self._padding_seq, False)]
        try:
            self._decode(tokens)
        finally:
            if tokens[-1].seq_id == self._padding_seq:
                llama_cpp.llama_memory_seq_rm(self.memory, self._padding_seq, -1, -1)

    def _decode(self, tokens: list[BatchToken]) -> None:
        batch = self._batch
        for i, item in enumerate(tokens):
            batch.token[i] = item.token
            batch.pos[i] = item.position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = item.seq_id
            batch.logits[i] = item.wants_logits
        batch.n_tokens = len(tokens)
        status = llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            # The engine reserves cells before it admits a sequence, so this is a bug or a
            # model llama.cpp cannot run; the caller fails every running sequence.
            raise InferenceError(f"llama.cpp could not decode a batch (llama_decode: {status})")

    def logits(self, index: int) -> npt.NDArray[np.float32]:
        pointer = llama_cpp.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def new_sampler(self, options: SamplingOptions) -> LlamaSamplerChain:
        return LlamaSamplerChain(self.ctx, self.vocab, self.n_vocab, options)

    def piece(self, token: int) -> bytes:
        size = llama_cpp.llama_token_to_piece(
            self.vocab, token, self._piece, PIECE_BUFFER, 0, False
        )
        if size < 0:  # longer than the buffer: llama.cpp gives the size it needs, negated
            buffer = ctypes.create_string_buffer(-size)
            size = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -size, 0, False)
            return bytes(buffer.raw[:size])
        return bytes(self._piece.raw[:size])

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        tokens: list[int] = self.model.tokenize(text.encode("utf-8"), add_bos, special)
        return tokens

    def remove(self, seq_id: int, start: int = 0) -> None:
        llama_cpp.llama_memory_seq_rm(self.memory, seq_id, start, -1)

    def copy(self, source: int, target: int, length: int) -> None:
        llama_cpp.llama_memory_seq_cp(self.memory, source, target, 0, length)

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self.context.close()  # type: ignore[no-untyped-call]
        self.model.close()  # type: ignore[no-untyped-call]
