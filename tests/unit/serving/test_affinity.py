"""Deployments pinned to CPUs: the worker process pins itself (and so every thread its model
starts) before loading; CPUs it cannot have fail the load with ``cpus_unavailable``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from modelmart.errors import CpusUnavailable
from modelmart.schemas.deployments import cpu_list, parse_cpu_list
from modelmart.serving.affinity import allowed_cpus, pin_process
from modelmart.serving.instances import ProcessInstance
from modelmart.serving.local import share_of_cores

from .fakes import make_runtime, rows, served

linux_only = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="CPU affinity is a Linux feature"
)


@pytest.mark.parametrize(
    ("cpus", "text"), [({0}, "0"), ({0, 1, 2, 5}, "0-2,5"), ({3, 4, 7, 8, 9}, "3-4,7-9")]
)
def test_cpu_lists_read_and_write_the_way_linux_does(cpus: set[int], text: str) -> None:
    assert cpu_list(cpus) == text
    assert parse_cpu_list(text + "\n") == cpus


@pytest.mark.parametrize("text", ["x", "3-1", "2-x"])
def test_a_malformed_cpu_list_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"CPU range|invalid literal"):
        parse_cpu_list(text)


def test_a_pinned_target_divides_its_own_cpus_among_instances() -> None:
    pinned = share_of_cores(served(), instances=2, cpus=(0, 1, 2, 3))
    assert pinned.load.cpus == (0, 1, 2, 3)
    assert pinned.load.parameters["threads"] == 2
    anywhere = share_of_cores(served(), instances=1)
    assert anywhere.load.cpus == ()
    assert anywhere.load.parameters["threads"] == len(os.sched_getaffinity(0))


def _allowed_list(pid: int, thread: str) -> str:
    status = Path(f"/proc/{pid}/task/{thread}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    return line.split(":", 1)[1].strip()


@linux_only
async def test_a_pinned_instance_runs_every_thread_of_its_worker_on_its_cpus() -> None:
    cpu = min(os.sched_getaffinity(0))
    target = served()
    instance = ProcessInstance(
        target.runtime, dataclasses.replace(target.load, cpus=(cpu,)), make_runtime
    )
    await instance.start(30)
    try:
        assert (await instance.predict(rows(1.0), 10))["y"].shape == (1, 2)
        assert instance._process is not None
        pid = instance._process.pid
        threads = os.listdir(f"/proc/{pid}/task")
        assert {_allowed_list(pid, thread) for thread in threads} == {str(cpu)}
    finally:
        await instance.stop()
    assert os.sched_getaffinity(0) != {cpu} or len(allowed_cpus()) == 1  # the server's is its own


@linux_only
async def test_cpus_the_machine_lacks_fail_the_load_with_cpus_unavailable() -> None:
    missing = max(allowed_cpus()) + 1
    target = served()
    instance = ProcessInstance(
        target.runtime, dataclasses.replace(target.load, cpus=(missing,)), make_runtime
    )
    with pytest.raises(CpusUnavailable, match=f"CPUs \\[{missing}\\] are not available"):
        await instance.start(30)
    await instance.stop()


@linux_only
def test_pinning_nothing_changes_nothing() -> None:
    before = os.sched_getaffinity(0)
    pin_process(())
    assert os.sched_getaffinity(0) == before
