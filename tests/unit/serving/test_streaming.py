"""Both halves of the generation exchange over a real pipe, in this process."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from modelmart.runtimes.generation import GenerationDone, TextDelta
from modelmart.serving.streaming import relay_from_worker
from modelmart.serving.worker import generate_in_worker
from tests.unit.serving.fakes import ScalingRuntime
from tests.unit.serving.generation_fakes import BROKEN, ENDLESS, EchoGenerator, ask


def test_the_worker_sends_every_event_then_end() -> None:
    parent, child = multiprocessing.Pipe()
    generate_in_worker(child, EchoGenerator(), ask("a b"))
    received = [parent.recv() for _ in range(4)]
    assert received == [
        ("event", TextDelta("a ")),
        ("event", TextDelta("b ")),
        ("event", GenerationDone(2, 2, "stop")),
        ("end", None),
    ]


def test_a_cancel_stops_the_worker_within_a_token() -> None:
    parent, child = multiprocessing.Pipe()
    runtime = EchoGenerator()
    parent.send(("cancel", None))  # arrives while the first token is being made
    generate_in_worker(child, runtime, ask(ENDLESS))
    assert parent.recv() == ("event", TextDelta("endless "))
    assert parent.recv() == ("end", None)
    assert runtime.stopped == 1  # closed mid-answer, not run to its end


def test_model_errors_end_the_exchange_as_error_bodies() -> None:
    parent, child = multiprocessing.Pipe()
    generate_in_worker(child, EchoGenerator(), ask(BROKEN))
    assert parent.recv()[0] == "event"
    kind, body = parent.recv()
    assert (kind, body["error"]["code"]) == ("error", "model_error")
    generate_in_worker(child, ScalingRuntime(), ask("hi"))
    kind, body = parent.recv()
    assert (kind, body["error"]["code"]) == ("error", "invalid_request")


def test_the_parent_stops_waiting_after_the_timeout_and_sends_one_cancel() -> None:
    parent, child = multiprocessing.Pipe()
    stop = threading.Event()
    stop.set()
    emitted: list[Any] = []

    def nothing(wait_s: float) -> None:
        return None

    assert relay_from_worker(parent, nothing, 0.1, emitted.append, stop) == ("timeout", None)
    assert child.recv() == ("cancel", None)
    assert not child.poll(0)
    assert emitted == []
