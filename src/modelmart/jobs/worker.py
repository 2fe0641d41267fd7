"""The body of a training worker process: load the dataset, train, send back the outcome.

Runs in a fresh (spawned) interpreter, so a crash, a leak or a framework's global state stays
there. Everything it reports travels over one pipe as ``(kind, payload)`` messages:
``progress`` any number of times, then one of ``succeeded``, ``failed`` or ``cancelled``.
Its stdout, stderr and logging go to the job's log file.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from modelmart.errors import ModelMartError, TrainingCancelled
from modelmart.jobs.executor import JobTicket
from modelmart.training.api import train
from modelmart.training.runs import ProgressEvent

_PR_SET_PDEATHSIG = 1


class EventCancelToken:
    """The training library's cancel token, backed by a process-shared event."""

    def __init__(self, event: Event) -> None:
        self._event = event

    def cancelled(self) -> bool:
        return self._event.is_set()


def main(ticket: JobTicket, conn: Connection, cancel: Event) -> None:
    """Train ``ticket`` and report over ``conn``; never raises."""
    _die_with_parent()
    _log_to(ticket)
    try:
        conn.send(_train(ticket, conn, cancel))
    except BrokenPipeError:
        pass  # the server is gone: nobody will register the result, which is what we want
    finally:
        conn.close()


def _train(ticket: JobTicket, conn: Connection, cancel: Event) -> tuple[str, Any]:
    # Imported here, in the worker: the server imports this module but never reads data.
    from modelmart.datasets.loading import load_training_data

    log = logging.getLogger("modelmart.jobs")

    def progress(event: ProgressEvent) -> None:
        log.info("epoch %d/%d: %s", event.epoch, event.total_epochs, event.metrics)
        conn.send(("progress", event))

    token = EventCancelToken(cancel)
    try:
        log.info("loading dataset %s version %d", ticket.dataset.name, ticket.dataset.version)
        data = load_training_data(ticket.dataset)
        if token.cancelled():  # before paying for the framework's import
            raise TrainingCancelled("cancelled before training started")
        log.info("training %s", ticket.spec.model_dump_json())
        outcome = train(ticket.spec, data, ticket.workdir, progress, token)
    except TrainingCancelled:
        log.info("cancelled")
        return ("cancelled", None)
    except ModelMartError as exc:
        log.error("failed: %s", exc.message)
        return ("failed", exc.message)
    except Exception as exc:  # a bug or a framework error: the reason and the traceback
        traceback.print_exc()
        return ("failed", f"training raised {type(exc).__name__}: {exc}")
    log.info("finished: %s", outcome.metrics)
    return ("succeeded", outcome)


def _log_to(ticket: JobTicket) -> None:
    # Frameworks print to the process's file descriptors, not sys.stdout: redirect the fds.
    fd = os.open(ticket.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )


def _die_with_parent() -> None:
    # A server killed with SIGKILL cannot stop its workers; Linux can, when asked up front.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
