"""The chat model's card figures are what measuring it again gives (greedy answers are
deterministic; latency depends on the machine and is only checked to be there)."""

from __future__ import annotations

import os

from modelmart.catalog.cards import load_measurements
from modelmart.catalog.chat_entries import SMOLLM2
from modelmart.catalog.chat_evaluation import measure_chat
from modelmart.catalog.harness import cpu_name, load


def test_instruction_pass_rate_is_reproduced() -> None:
    measured = measure_chat(load, cpu_name(), len(os.sched_getaffinity(0)))[SMOLLM2.name]
    shipped = load_measurements().models[SMOLLM2.name]
    assert [(m.metric, m.value) for m in measured.quality] == [
        (m.metric, m.value) for m in shipped.quality
    ]
    assert measured.latency.tokens_per_second is not None
    assert measured.latency.tokens_per_second > 0
