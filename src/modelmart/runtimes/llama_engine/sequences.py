"""One generation inside the engine: its tokens, where its KV cells are, and how its
sampled tokens become text events (UTF-8 pieces, stop strings, log-probabilities)."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from modelmart.runtimes.generation import (
    FinishReason,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    StopMatcher,
    TextDelta,
    TokenLogprob,
)
from modelmart.runtimes.llama_engine.backend import TokenSampler


@dataclass(eq=False)
class Sequence:
    """A request from admission to its last event.

    ``kv_tokens`` are the tokens whose KV cells ``seq_id`` holds, position ``i`` for token
    ``i``; ``pending`` are the next tokens to evaluate (the prompt's rest, or the token just
    sampled). ``limit`` is how many tokens the answer may take; ``reserved`` the KV cells the
    budget holds for it.
    """

    rid: str
    request: GenerationRequest
    prompt: list[int]
    limit: int
    seq_id: int = -1
    reserved: int = 0
    kv_tokens: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    generated: int = 0
    cached_tokens: int = 0
    sampler: TokenSampler | None = None
    cancelled: bool = False
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _matcher: StopMatcher = field(init=False)
    _logprobs: list[TokenLogprob] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._matcher = StopMatcher(self.request.stop)

    @property
    def prefilling(self) -> bool:
        """Still evaluating its prompt (no token sampled yet)."""
        return self.generated == 0 and len(self.kv_tokens) + len(self.pending) <= len(self.prompt)

    def start(self, cached: int) -> None:
        """Begin after ``cached`` prompt tokens were copied from the prefix cache."""
        self.cached_tokens = cached
        self.kv_tokens = self.prompt[:cached]
        self.pending = self.prompt[cached:]

    def take(self, count: int) -> list[int]:
        """The next ``count`` pending tokens, now on their way into the KV cache."""
        chunk, self.pending = self.pending[:count], self.pending[count:]
        self.kv_tokens.extend(chunk)
        return chunk

    def accept(
        self, token: int, piece: bytes, end_of_generation: bool, logprob: TokenLogprob | None
    ) -> list[GenerationEvent]:
        """The events for one sampled token; the last one is GenerationDone if it ended."""
        if end_of_generation:
            return self.end("stop")
        self.generated += 1
        if logprob is not None:
            self._logprobs.append(logprob)
        text, stopped = self._matcher.feed(self._decoder.decode(piece))
        events: list[GenerationEvent] = []
        if text:
            events.append(TextDelta(text, tuple(self._logprobs)))
            self._logprobs = []
        if stopped:
            return [*events, self._done("stop")]
        if self.generated >= self.limit:
            return events + self.end("length")
        self.pending = [token]
        return events

    def end(self, reason: FinishReason) -> list[GenerationEvent]:
        """The last events: what the decoder and the stop matcher held back, then done."""
        tail, stopped = self._matcher.feed(self._decoder.decode(b"", final=True))
        if not stopped:
            tail += self._matcher.flush()
        events: list[GenerationEvent] = []
        if tail or self._logprobs:
            events.append(TextDelta(tail, tuple(self._logprobs)))
            self._logprobs = []
        return [*events, self._done(reason)]

    def _done(self, reason: FinishReason) -> GenerationDone:
        self.pending = []
        return GenerationDone(len(self.prompt), self.generated, reason, self.cached_tokens)
