"""The step loop of continuous batching on one llama.cpp context.

Every :meth:`LlamaEngine.step` decodes ONE batch holding the next token of every running
sequence plus chunks of the prompts still being read (at most ``prefill_chunk`` prompt
tokens a step, so a long prompt delays the others' next token by one bounded step, never by
its whole length), then samples each sequence that has logits, with its own sampler chain.
New requests wait in a bounded queue until a sequence slot and the KV cells they may need
(see :mod:`~modelmart.runtimes.llama_engine.kv_budget`) are free; when the queue is full,
:class:`~modelmart.errors.Overloaded`. A new sequence first copies the longest start of its
prompt that some cached or running sequence holds
(:mod:`~modelmart.runtimes.llama_engine.prefix_cache`), and evaluates only the rest.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from modelmart.errors import ContextLengthExceeded, Overloaded
from modelmart.runtimes.generation import (
    EngineStats,
    GenerationDone,
    GenerationEngine,
    GenerationEvent,
    GenerationRequest,
    StepItem,
)
from modelmart.runtimes.llama_engine.backend import Backend, BatchToken
from modelmart.runtimes.llama_engine.kv_budget import KvBudget
from modelmart.runtimes.llama_engine.prefix_cache import PrefixCache
from modelmart.runtimes.llama_engine.sampling import SamplingOptions, token_logprob
from modelmart.runtimes.llama_engine.sequences import Sequence

logger = logging.getLogger("modelmart.runtimes")

Encode = Callable[[GenerationRequest], list[int]]
"""The request's prompt as tokens (chat template, then tokenizer)."""


@dataclass(frozen=True)
class EngineConfig:
    """``parallel`` sequences decode together; ``queue_limit`` more may wait;
    ``prefill_chunk`` prompt tokens are read per step; ``reserve`` cells are set aside at a
    time for an answer without max_tokens; ``prefix_cache`` keeps finished sequences' cells."""

    parallel: int = 4
    queue_limit: int = 64
    prefill_chunk: int = 256
    reserve: int = 256
    prefix_cache: bool = True


class LlamaEngine(GenerationEngine):
    def __init__(self, backend: Backend, encode: Encode, config: EngineConfig) -> None:
        self.parallel = config.parallel
        self._backend = backend
        self._encode = encode
        self._config = config
        self._free_ids = list(range(backend.n_seq_max - 1, -1, -1))
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._by_rid: dict[str, Sequence] = {}
        self._cache = PrefixCache()
        self._budget = KvBudget(backend.n_ctx)

    @property
    def context_length(self) -> int:
        return self._backend.n_ctx

    @property
    def has_work(self) -> bool:
        return bool(self._running or self._waiting)

    def stats(self) -> EngineStats:
        return EngineStats(
            running=len(self._running),
            waiting=len(self._waiting),
            kv_tokens=self._budget.reserved + self._cache.held_tokens,
            kv_capacity=self._budget.capacity,
        )

    def submit(self, rid: str, request: GenerationRequest) -> None:
        prompt = self._encode(request)
        limit = self.answer_limit(len(prompt), request.max_tokens)
        free_slots = max(0, self.parallel - len(self._running))
        if len(self._waiting) >= self._config.queue_limit + free_slots:
            raise Overloaded(
                f"this model instance already has {len(self._running)} generations running "
                f"and {len(self._waiting)} waiting; retry shortly, or deploy more instances "
                "or a higher 'parallel'",
                retry_after_s=1,
            )
        sequence = Sequence(rid, request, prompt, limit)
        sequence.sampler = self._backend.new_sampler(SamplingOptions.of(request))
        self._waiting.append(sequence)
        self._by_rid[rid] = sequence

    def answer_limit(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """Tokens the answer may take; ContextLengthExceeded, as OpenAI words it, if none."""
        window = self._backend.n_ctx
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

    def cancel(self, rid: str) -> None:
        """Stop ``rid``: a waiting one leaves at once, a running one frees its cells at the
        next step."""
        sequence = self._by_rid.pop(rid, None)
        if sequence is None:
            return
        sequence.cancelled = True
        if sequence in self._waiting:
            self._waiting.remove(sequence)
            self._close_sampler(sequence)

    def step(self) -> list[StepItem]:
        self._drop_cancelled()
        self._admit()
        if not self._running:
            return []
        batch, outputs = self._batch()
        try:
            self._backend.decode(batch)
        except Exception as exc:  # the context is in doubt: fail every running sequence
            logger.warning("a decode step failed; its %d sequences fail", len(self._running))
            failed: list[StepItem] = [(sequence.rid, exc) for sequence in self._running]
            for sequence in list(self._running):
                self._release(sequence, keep=False)
            return failed
        items: list[StepItem] = []
        for sequence, index in outputs:
            items.extend((sequence.rid, event) for event in self._sample(sequence, index))
        return items

    def close(self) -> None:
        for sequence in [*self._running, *self._waiting]:
            self._close_sampler(sequence)
        self._running.clear()
        self._waiting.clear()
        self._by_rid.clear()

    def _drop_cancelled(self) -> None:
        for sequence in [s for s in self._running if s.cancelled]:
            self._release(sequence, keep=False)

    def _admit(self) -> None:
        while self._waiting and len(self._running) < self.parallel:
            sequence = self._waiting[0]
            cells = len(sequence.prompt) + min(sequence.limit, self._config.reserve)
            if sequence.request.max_tokens is not None:
                cells = len(sequence.prompt) + sequence.limit
            if not self._make_room(cells):
                return  # first come, first served: the head waits for cells to free up
            self._waiting.popleft()
            self._budget.reserve(cells)
            sequence.reserved = cells
            self._place(sequence)
            self._running.append(sequence)

    def _place(self, sequence: Sequence) -> None:
        """Give ``sequence`` a sequence id, sharing the longest cached start of its prompt
        (but never the last prompt token: evaluating it gives the first logits)."""
        source, shared = -1, 0
        if self._config.prefix_cache:
            running = [(s.seq_id, s.kv_tokens) for s in self._running]
            source, shared = self._cache.best_match(sequence.prompt, running)
            shared = min(shared, len(sequence.prompt) - 1)
        sequence.seq_id = self._take_id(keep=source)
        if shared > 0:
            self._backend.copy(source, sequence.seq_id, shared)
        sequence.start(max(shared, 0))

    def _take_id(self, keep: int) -> int:
        if not self._free_ids:
            # More ids than slots exist, so a cache entry holds one; evict it, never the
            # entry about to be shared.
            self._evict(keep=keep)
        return self._free_ids.pop()

    def _make_room(self, cells: int) -> bool:
        while self._budget.room(self._cache.held_tokens) < cells:
            if not self._evict(keep=-1):
                return False
        return True

    def _evict(self, keep: int) -> bool:
        seq_id = self._cache.evict_oldest(keep=keep)
        if seq_id is None:
            return False
        self._backend.remove(seq_id)
        self._free_ids.append(seq_id)
        return True

    def _batch(self) -> tuple[list[BatchToken], list[tuple[Sequence, int]]]:
        """Every decoding sequence's next token first, then chunks of prompts."""
        batch: list[BatchToken] = []
        outputs: list[tuple[Sequence, int]] = []
        for sequence in self._running:
            if not sequence.prefilling:
                position = len(sequence.kv_tokens)
                (token,) = sequence.take(1)
                batch.append(BatchToken(token, position, sequence.seq_id, True))
                outputs.append((sequence, len(batch) - 1))
        budget = min(self._config.prefill_chunk, self._backend.n_batch - len(batch))
        for sequence in self._running:
            if budget <= 0:
                break
            if not sequence.prefilling:
                continue
            start = len(sequence.kv_tokens)
            chunk = sequence.take(min(budget, len(sequence.pending)))
            last = not sequence.pending
            for offset, token in enumerate(chunk):
                wants = last and offset == len(chunk) - 1
                batch.append(BatchToken(token, start + offset, sequence.seq_id, wants))
            if last:
                outputs.append((sequence, len(batch) - 1))
            budget -= len(chunk)
        return batch, outputs

    def _sample(self, sequence: Sequence, index: int) -> list[GenerationEvent]:
        assert sequence.sampler is not None
        wants_logprobs = sequence.request.logprobs
        logits = self._backend.logits(index) if wants_logprobs else None
        token = sequence.sampler.sample(index)
        end = self._backend.is_end_of_generation(token)
        piece = b"" if end else self._backend.piece(token)
        logprob = None
        if logits is not None and not end:
            logprob = token_logprob(
                logits, token, sequence.request.top_logprobs, self._backend.piece
            )
        events = sequence.accept(token, piece, end, logprob)
        if not (events and isinstance(events[-1], GenerationDone)) and not self._has_cells(
            sequence
        ):
            events += sequence.end("length")
        if events and isinstance(events[-1], GenerationDone):
            self._release(sequence, keep=self._config.prefix_cache)
        return events

    def _has_cells(self, sequence: Sequence) -> bool:
        """Whether the next token has a reserved cell, reserving more when it had none."""
        needed = len(sequence.kv_tokens) + len(sequence.pending)
        if needed <= sequence.reserved:
            return True
        more = min(self._config.reserve, len(sequence.prompt) + sequence.limit - sequence.reserved)
        if more <= 0 or not self._make_room(more):
            return False
        self._budget.reserve(more)
        sequence.reserved += more
        return True

    def _release(self, sequence: Sequence, *, keep: bool) -> None:
        """Take ``sequence`` out; keep its cells as a cache entry, or free them."""
        self._running.remove(sequence)
        if self._by_rid.get(sequence.rid) is sequence:
            del self._by_rid[sequence.rid]
        self._budget.release(sequence.reserved)
        sequence.reserved = 0
        self._close_sampler(sequence)
        if keep and sequence.kv_tokens:
            self._cache.add(sequence.seq_id, list(sequence.kv_tokens))
        else:
            self._backend.remove(sequence.seq_id)
            self._free_ids.append(sequence.seq_id)

    @staticmethod
    def _close_sampler(sequence: Sequence) -> None:
        if sequence.sampler is not None:
            sequence.sampler.close()
            sequence.sampler = None
