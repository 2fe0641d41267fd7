"""Learning an upload's signature in a short-lived process, away from the server.

Loading is how an artifact proves it works, but loading runs native framework code on bytes a
user sent: a crash there must not take the server down, and the frameworks it imports should
not stay in the server's heap. Each inspection runs in a fresh ``spawn``-ed process that loads,
reports the signature (or the error, as its JSON body) and exits.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from modelmart.errors import InvalidArtifact, ModelMartError, error_class_for
from modelmart.runtimes.base import LoadRequest, inspect_artifact
from modelmart.types import RuntimeName, Signature

Inspect = Callable[[RuntimeName, LoadRequest], Signature]


def _inspect_reporting_errors(
    inspect: Inspect, runtime: RuntimeName, request: LoadRequest
) -> tuple[Signature | None, dict[str, Any] | None]:
    """Runs in the child: errors come back as their JSON body, which always pickles."""
    try:
        return inspect(runtime, request), None
    except ModelMartError as exc:
        return None, exc.to_dict()["error"]


class IsolatedInspector:
    """An :data:`~modelmart.registry.service.Inspector` that loads in a child process."""

    def __init__(self, timeout_s: float, inspect: Inspect = inspect_artifact) -> None:
        self.timeout_s = timeout_s
        self._inspect = inspect  # module-level, so the child can import it by reference

    def __call__(self, runtime: RuntimeName, request: LoadRequest) -> Signature:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(_inspect_reporting_errors, self._inspect, runtime, request)
            try:
                signature, error = future.result(timeout=self.timeout_s)
            except FutureTimeout as exc:
                _stop(pool)
                raise InvalidArtifact(
                    f"loading the {request.format.value} artifact took longer than "
                    f"{self.timeout_s:g} s; check it loads locally, or raise "
                    "MODELMART_INSTANCE_START_TIMEOUT_S"
                ) from exc
            except BrokenProcessPool as exc:
                raise InvalidArtifact(
                    f"the {request.format.value} artifact crashed the process that loaded it; "
                    "it is not registered. Check that it loads with its framework locally"
                ) from exc
        if error is not None:
            details = error.get("details")
            raise error_class_for(str(error["code"]))(
                str(error["message"]), details=details if isinstance(details, dict) else None
            )
        assert signature is not None
        return signature


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill a child that hangs: shutdown alone would wait for it."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
