"""A fake chat runtime for generation tests. Module-level so worker processes can import it.

It answers with the words of its last message, one per token, then ``done``; messages with
special content misbehave on purpose.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path

from modelmart.arrays import Batch
from modelmart.errors import ContextLengthExceeded
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    ChatMessage,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    TextGenerator,
)
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import Instance, ProcessInstance, ThreadInstance
from modelmart.serving.placement import ServedVersion
from modelmart.types import ArtifactFormat, RuntimeName, Signature

ENDLESS = "endless"  # generates until stopped
CRASH_MIDWAY = "crash midway"  # the worker process dies after one token
TOO_LONG = "too long"  # refused before the first token
BROKEN = "broken"  # raises a plain exception after one token
CONTEXT = 64


class EchoGenerator(Runtime, TextGenerator):
    """Echoes the last message word by word; ``stopped`` counts generations closed early."""

    name = RuntimeName.LLAMA_CPP
    stopped = 0
    produced = 0

    def load(self, request: LoadRequest) -> None:
        self._signature = CHAT_SIGNATURE

    @property
    def signature(self) -> Signature:
        return CHAT_SIGNATURE

    @property
    def context_length(self) -> int:
        return CONTEXT

    def predict(self, batch: Batch) -> Batch:
        return {"completion": batch["text"]}

    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]:
        text = request.messages[-1].content
        if text == TOO_LONG:
            raise ContextLengthExceeded("the messages take 65 tokens", details={"param": "x"})
        return self._stream(text, request)

    def _stream(
        self, text: str, request: GenerationRequest
    ) -> Generator[GenerationEvent, None, None]:
        words = text.split()
        try:
            produced = 0
            while text == ENDLESS or produced < len(words):
                if text == ENDLESS:
                    time.sleep(0.001)
                yield TextDelta(f"{words[produced % len(words)]} ")
                produced += 1
                self.produced += 1
                if text == CRASH_MIDWAY:
                    os._exit(5)
                if text == BROKEN:
                    raise KeyError("the fake lost its place")
        except GeneratorExit:
            self.stopped += 1
            raise
        yield GenerationDone(len(words), produced, "stop")


def make_generator(name: RuntimeName) -> Runtime:
    return EchoGenerator()


def chat_target(version: int = 1) -> ServedVersion:
    load = LoadRequest(Path("/nonexistent"), ArtifactFormat.GGUF)
    return ServedVersion(model="chat", version=version, runtime=RuntimeName.LLAMA_CPP, load=load)


def generator_instance(target: ServedVersion, isolation: Isolation) -> Instance:
    kind = ProcessInstance if isolation is Isolation.PROCESS else ThreadInstance
    return kind(target.runtime, target.load, make_generator)


def ask(text: str, **options: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **options)  # type: ignore[arg-type]
