"""Load for streamed chat completions: ``streams`` clients each send one request after
another for a fixed time, reading the server-sent events as they arrive.

wrk cannot see inside a streamed body, so this is a small asyncio client: per request it
notes the time to the first token (the first chunk with content) and the tokens that
followed; a request counts when its stream ended with ``[DONE]`` after a 200.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Completion:
    first_token_s: float
    tokens: int
    total_s: float


@dataclass(frozen=True)
class StreamRun:
    """What ``streams`` concurrent streams achieved over ``duration_s``."""

    streams: int
    duration_s: float
    completed: int
    errors: int
    tokens_per_s: float  # every stream together
    stream_tokens_per_s: float  # median, one stream, after its first token
    ttft_p50_ms: float
    ttft_p99_ms: float
    error_sample: str = ""


async def _one(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> Completion:
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    done = False
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            text = (await response.aread()).decode(errors="replace")
            raise RuntimeError(f"{response.status_code}: {text[:200]}")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            choices = chunk.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                tokens += 1
                if first is None:
                    first = time.perf_counter()
    if not done or first is None:
        raise RuntimeError("the stream ended without [DONE] or without any content")
    return Completion(first - started, tokens, time.perf_counter() - started)


async def _client_loop(
    client: httpx.AsyncClient,
    url: str,
    bodies: Sequence[dict[str, Any]],
    headers: dict[str, str],
    start: int,
    deadline: float,
    completions: list[Completion],
    errors: list[str],
) -> None:
    for body in itertools.islice(itertools.cycle(bodies), start, None):
        if time.perf_counter() >= deadline:
            return
        try:
            completions.append(await _one(client, url, body, headers))
        except (httpx.HTTPError, RuntimeError, json.JSONDecodeError) as exc:
            errors.append(repr(exc))
            await asyncio.sleep(0.05)  # do not spin on a server that refuses everything


async def _load(
    url: str,
    bodies: Sequence[dict[str, Any]],
    streams: int,
    duration_s: float,
    headers: dict[str, str],
) -> StreamRun:
    completions: list[Completion] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=_TIMEOUT_S, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(
            *(
                _client_loop(client, url, bodies, headers, index, deadline, completions, errors)
                for index in range(streams)
            )
        )
        wall = time.perf_counter() - started
    return _summary(streams, wall, completions, errors)


def _summary(
    streams: int, wall: float, completions: list[Completion], errors: list[str]
) -> StreamRun:
    ttfts = sorted(item.first_token_s * 1000 for item in completions) or [0.0]
    rates = [
        (item.tokens - 1) / (item.total_s - item.first_token_s)
        for item in completions
        if item.tokens > 1 and item.total_s > item.first_token_s
    ]
    return StreamRun(
        streams=streams,
        duration_s=wall,
        completed=len(completions),
        errors=len(errors),
        tokens_per_s=sum(item.tokens for item in completions) / wall if wall else 0.0,
        stream_tokens_per_s=statistics.median(rates) if rates else 0.0,
        ttft_p50_ms=ttfts[len(ttfts) // 2],
        ttft_p99_ms=ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))],
        error_sample=errors[0] if errors else "",
    )


def run_streams(
    url: str,
    bodies: Sequence[dict[str, Any]],
    streams: int,
    duration_s: float,
    headers: tuple[str, ...] = (),
) -> StreamRun:
    """``streams`` clients streaming ``bodies`` in turn at ``url`` for ``duration_s``; the
    requests still running at the deadline finish and count."""
    header_map = dict(header.split(": ", 1) for header in headers)
    return asyncio.run(_load(url, bodies, streams, duration_s, header_map))
