"""Generation, many requests at once: the engine loop that drives a runtime's
:class:`~modelmart.runtimes.generation.GenerationEngine` in its own thread.

The loop runs in the worker process (or, for a ``ThreadInstance``, in the server process).
Requests reach it through :meth:`EngineLoop.submit`, :meth:`~EngineLoop.cancel` and
:meth:`~EngineLoop.predict` from any thread; they join the running batch at the next step.
Every outcome leaves through one ``Sink`` call ``(kind, rid, payload)``:

* ``("event", rid, TextDelta | GenerationDone)`` any number of times, then
* ``("end", rid, None)`` (after GenerationDone, or once a cancel took effect) or
  ``("error", rid, error_body)`` (the request failed; nothing more comes for it);
* ``("ok", rid, (outputs, microjoules))`` or ``("error", rid, error_body)`` answers a
  ``predict``;
* ``("stats", "", EngineStats)`` at least every ``STATS_INTERVAL_S`` while it has work,
  which is also how the parent knows the worker is alive while requests wait their turn.

Errors travel as the JSON error body, so the receiver re-raises the same class.

Energy: the loop reads its :class:`~modelmart.energy.meters.Meter` around every engine call.
A request's submission (its prompt's evaluation, where the engine does it there) is its own;
each step decodes one token for every sequence it produces for, so a step's energy is split
equally among those: by tokens. A generation's total arrives in its ``GenerationDone``
(``energy_uj``), a predict batch's beside its outputs.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelmart.arrays import Batch
from modelmart.energy.meters import Meter, NoMeter
from modelmart.energy.split import split_microjoules
from modelmart.errors import InferenceError, InvalidRequest, ModelMartError
from modelmart.runtimes.base import Runtime
from modelmart.runtimes.generation import (
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    SerialEngine,
    TextDelta,
    TextGenerator,
)
from modelmart.runtimes.parameters import texts

Sink = Callable[[str, str, Any], None]
"""Receives ``(kind, rid, payload)``; called from the loop's thread."""

STATS_INTERVAL_S = 0.5


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The error body of ``exc``; unexpected exceptions become ``model_error``."""
    if isinstance(exc, ModelMartError):
        return exc.to_dict()
    wrapped = InferenceError(
        f"the model raised {type(exc).__name__}: {exc}",
        details={"traceback": traceback.format_exception_only(exc)[-1].strip()},
    )
    return wrapped.to_dict()


def not_generative(runtime: Runtime) -> InvalidRequest:
    return InvalidRequest(
        f"this {runtime.label} model does not generate text; chat completions need a chat "
        "model, such as the catalogue's smollm2-135m-instruct",
        details={"param": "model"},
    )


@dataclass
class _Prediction:
    """A predict batch answered by the engine: one sequence per text."""

    rid: str
    answers: list[str]
    open: set[int] = field(default_factory=set)
    energy_uj: int = 0


class EngineLoop:
    """Drives one runtime's engine; see the module docstring for what it reports."""

    def __init__(self, runtime: TextGenerator, sink: Sink, meter: Meter | None = None) -> None:
        self._runtime = runtime
        self._meter = meter or NoMeter()
        self._energy: defaultdict[str, int] = defaultdict(int)  # microjoules by request id
        self._engine = runtime.engine()
        self.parallel = self._engine.parallel
        self._sink = sink
        self._inbox: deque[Callable[[], None]] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._active: set[str] = set()
        self._parts: dict[str, tuple[_Prediction, int]] = {}
        self._last_stats = 0.0
        self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
        self._thread.start()

    def submit(self, rid: str, request: GenerationRequest) -> None:
        self._post(lambda: self._submit(rid, request))

    def cancel(self, rid: str) -> None:
        self._post(lambda: self._cancel(rid))

    def predict(self, rid: str, batch: Batch) -> None:
        self._post(lambda: self._predict(rid, batch))

    def handle(self, kind: str, rid: str, payload: Any) -> None:
        """A message of the serving side: ``generate``, ``cancel`` or ``predict``."""
        if kind == "generate":
            self.submit(rid, payload)
        elif kind == "cancel":
            self.cancel(rid)
        elif kind == "predict":
            self.predict(rid, payload)

    def stop(self) -> None:
        """Cancel everything and end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _post(self, task: Callable[[], None]) -> None:
        with self._wake:
            self._inbox.append(task)
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._inbox or self._engine.has_work or self._stopping):
                    self._wake.wait()
                tasks = list(self._inbox)
                self._inbox.clear()
                stopping = self._stopping
            for task in tasks:
                task()
            if stopping:
                for rid in list(self._active):
                    self._cancel(rid)
                return
            if self._engine.has_work:
                self._step()
            self._report()

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= STATS_INTERVAL_S or not self._engine.has_work:
            self._last_stats = now
            self._sink("stats", "", self._engine.stats())

    def _step(self) -> None:
        started = self._meter.start()
        try:
            items = self._engine.step()
        except Exception as exc:  # the engine itself failed: every request it held fails
            for rid in list(self._active):
                self._deliver(rid, exc)
            for rid in list(self._parts):
                self._deliver(rid, exc)
            return
        # The sequences the step produced for (one token each); a step that produced nothing
        # visible (a prompt evaluated, a character not complete yet) worked for all it holds.
        worked = list(dict.fromkeys(rid for rid, _ in items)) or [*self._active, *self._parts]
        self._charge(self._meter.stop(started), worked)
        for rid, item in items:
            self._deliver(rid, item)

    def _charge(self, microjoules: int, rids: list[str]) -> None:
        """Split one engine call's energy equally among the sequences it worked on."""
        for rid, share in zip(rids, split_microjoules(microjoules, [1] * len(rids)), strict=True):
            self._energy[rid] += share

    def _deliver(self, rid: str, item: GenerationEvent | Exception) -> None:
        if rid in self._parts:
            self._deliver_part(rid, item)
            return
        if rid not in self._active:
            self._energy.pop(rid, None)
            return  # cancelled meanwhile
        if isinstance(item, Exception):
            self._forget(rid)
            self._sink("error", rid, error_payload(item))
            return
        if isinstance(item, GenerationDone):
            item = dataclasses.replace(item, energy_uj=item.energy_uj + self._energy.pop(rid, 0))
        self._sink("event", rid, item)
        if isinstance(item, GenerationDone):
            self._active.discard(rid)
            self._sink("end", rid, None)

    def _forget(self, rid: str) -> None:
        self._active.discard(rid)
        self._energy.pop(rid, None)

    def _submit(self, rid: str, request: GenerationRequest) -> None:
        started = self._meter.start()
        try:
            self._engine.submit(rid, request)
        except Exception as exc:  # a request error (context length, overloaded, grammar)
            self._sink("error", rid, error_payload(exc))
            return
        self._energy[rid] += self._meter.stop(started)
        self._active.add(rid)

    def _cancel(self, rid: str) -> None:
        if rid in self._active:
            self._engine.cancel(rid)
            self._forget(rid)
            self._sink("end", rid, None)

    def _predict(self, rid: str, batch: Batch) -> None:
        if isinstance(self._engine, SerialEngine):
            # No batching engine: the runtime's own predict, between two generation steps.
            self._predict_directly(rid, batch)
            return
        started = self._meter.start()
        try:
            requests = self._runtime.prediction_requests(texts(batch["text"]))
            prediction = _Prediction(rid, [""] * len(requests), set(range(len(requests))))
            for index, request in enumerate(requests):
                part = f"{rid}#{index}"
                self._engine.submit(part, request)
                self._parts[part] = (prediction, index)
        except Exception as exc:  # a prompt too long, a full queue: the whole batch fails
            self._fail_prediction(rid, exc)
            return
        prediction.energy_uj += self._meter.stop(started)
        if not requests:
            self._sink("ok", rid, ({"completion": np.array([], dtype=object)}, 0))

    def _predict_directly(self, rid: str, batch: Batch) -> None:
        assert isinstance(self._runtime, Runtime)
        started = self._meter.start()
        try:
            outputs = self._runtime.predict(batch)
        except Exception as exc:  # a model may raise anything; it fails only this batch
            self._sink("error", rid, error_payload(exc))
            return
        self._sink("ok", rid, (outputs, self._meter.stop(started)))

    def _deliver_part(self, part: str, item: GenerationEvent | Exception) -> None:
        prediction, index = self._parts[part]
        if isinstance(item, Exception):
            self._fail_prediction(prediction.rid, item)
            return
        prediction.energy_uj += self._energy.pop(part, 0)
        if isinstance(item, TextDelta):
            prediction.answers[index] += item.text
            return
        del self._parts[part]
        prediction.open.discard(index)
        if not prediction.open:
            outputs = {"completion": np.array(prediction.answers, dtype=object)}
            self._sink("ok", prediction.rid, (outputs, prediction.energy_uj))

    def _fail_prediction(self, rid: str, exc: BaseException) -> None:
        for part, (prediction, _) in list(self._parts.items()):
            if prediction.rid == rid:
                del self._parts[part]
                self._energy.pop(part, None)
                self._engine.cancel(part)
        self._sink("error", rid, error_payload(exc))
