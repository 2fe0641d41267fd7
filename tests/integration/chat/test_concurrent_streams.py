"""Sixteen streamed chats at once through the official SDK, decoded together by one
instance's engine, each getting the answer it gets alone (greedy)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from tests.integration.chat.conftest import CHAT

QUESTIONS = (
    "Name three colours of the rainbow.",
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "Suggest a name for a bakery.",
    "Describe a cat in one sentence.",
    "Give me a tip for writing clean code.",
    "What is two plus two?",
    "Write a haiku about autumn.",
)
MAX_TOKENS = 24


async def _streamed(sdk: openai.AsyncOpenAI, question: str) -> tuple[str, str | None]:
    messages: Any = [{"role": "user", "content": question}]
    stream = await sdk.chat.completions.create(
        model=CHAT, messages=messages, max_tokens=MAX_TOKENS, temperature=0, stream=True
    )
    pieces, finish = [], None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(pieces), finish


async def test_sixteen_concurrent_streams_get_the_answers_they_get_alone(
    async_sdk: openai.AsyncOpenAI,
) -> None:
    # Alone first (one at a time), while the KV cache has never freed a cell: see the README
    # on determinism for why the order matters.
    alone = [await _streamed(async_sdk, question) for question in QUESTIONS]

    together = await asyncio.gather(*(_streamed(async_sdk, q) for q in QUESTIONS * 2))

    assert all(text for text, _ in alone)
    assert together == alone * 2
