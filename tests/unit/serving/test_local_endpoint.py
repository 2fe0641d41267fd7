import asyncio
import os

import numpy as np
import pytest

from modelmart.errors import BadModelOutput, InferenceError, InferenceTimeout, WorkerCrashed
from modelmart.schemas.deployments import Isolation
from modelmart.serving import local
from modelmart.serving.local import LocalPlacement
from modelmart.serving.placement import EndpointSpec

from .fakes import CRASH, HANG, RAISE, SHORT, fake_instance, rows, served


def spec(isolation: Isolation = Isolation.THREAD, **changes: object) -> EndpointSpec:
    base = EndpointSpec(name="fake", target=served(), isolation=isolation, timeout_s=5.0)
    return EndpointSpec(**{**base.__dict__, **changes})  # type: ignore[arg-type]


async def start(endpoint_spec: EndpointSpec):  # type: ignore[no-untyped-def]
    observed: list[int] = []
    placement = LocalPlacement(lambda _, size, __: observed.append(size), fake_instance)
    return await placement.start(endpoint_spec), observed


async def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    endpoint, observed = await start(spec(max_batch_size=16, target=served(delay_s=0.02)))
    results = await asyncio.gather(*(endpoint.predict(rows(i)) for i in range(40)))
    for i, prediction in enumerate(results):
        assert prediction.outputs["y"].tolist() == [[2.0 * i, 2.0 * i]]
        assert prediction.version == 1
    assert max(observed) > 1
    assert sum(observed) == 40
    await endpoint.close()


@pytest.mark.parametrize(
    ("value", "error"),
    [(RAISE, InferenceError), (SHORT, BadModelOutput)],
)
async def test_model_failures_fail_only_their_batch(value: float, error: type) -> None:
    endpoint, _ = await start(spec())
    with pytest.raises(error):
        await endpoint.predict(rows(value))
    assert (await endpoint.predict(rows(1))).outputs["y"].tolist() == [[2.0, 2.0]]
    await endpoint.close()


async def test_swap_version_under_load_fails_nothing() -> None:
    endpoint, _ = await start(spec(instances=2, target=served(delay_s=0.005)))
    stop = asyncio.Event()
    versions: list[int] = []

    async def client(offset: int) -> None:
        while not stop.is_set():
            prediction = await endpoint.predict(rows(offset))
            versions.append(prediction.version)

    clients = [asyncio.create_task(client(i)) for i in range(8)]
    await asyncio.sleep(0.1)
    await endpoint.apply(spec(instances=2, target=served(version=2, factor=3.0, delay_s=0.005)))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*clients)  # any failed request would raise here
    assert versions[0] == 1
    assert versions[-1] == 2
    assert endpoint.status().version == 2
    assert (await endpoint.predict(rows(1))).outputs["y"].tolist() == [[3.0, 3.0]]
    await endpoint.close()


async def test_scale_up_and_down_while_serving() -> None:
    endpoint, _ = await start(spec(instances=1))
    await endpoint.apply(spec(instances=3))
    assert endpoint.status().ready_instances == 3
    pending = [asyncio.create_task(endpoint.predict(rows(i))) for i in range(20)]
    await endpoint.apply(spec(instances=1))
    assert len(await asyncio.gather(*pending)) == 20
    assert endpoint.status().ready_instances == 1
    await endpoint.close()


async def test_close_finishes_queued_requests() -> None:
    endpoint, _ = await start(spec(target=served(delay_s=0.01), max_batch_size=1))
    pending = [asyncio.create_task(endpoint.predict(rows(i))) for i in range(5)]
    await asyncio.sleep(0)
    await endpoint.close()
    assert [p.result().outputs["y"][0, 0] for p in pending] == [0, 2, 4, 6, 8]


async def test_failed_load_raises_and_leaves_nothing_running() -> None:
    with pytest.raises(ValueError, match="refuses to load"):
        await start(spec(target=served(fail_load=1)))


async def test_process_worker_crash_fails_one_batch_and_restarts() -> None:
    endpoint, _ = await start(spec(Isolation.PROCESS))
    with pytest.raises(WorkerCrashed, match="exit code 3"):
        await endpoint.predict(rows(CRASH))
    prediction = await endpoint.predict(rows(1.5))
    assert np.allclose(prediction.outputs["y"], [[3.0, 3.0]])
    await endpoint.close()


async def test_process_worker_hang_times_out_and_restarts() -> None:
    endpoint, _ = await start(spec(Isolation.PROCESS, timeout_s=0.5))
    with pytest.raises(InferenceTimeout, match=r"longer than 0\.5 s"):
        await endpoint.predict(rows(HANG))
    assert (await endpoint.predict(rows(1))).outputs["y"].tolist() == [[2.0, 2.0]]
    await endpoint.close()


async def test_process_worker_reports_model_errors_with_their_class() -> None:
    endpoint, _ = await start(spec(Isolation.PROCESS))
    with pytest.raises(InferenceError, match="ZeroDivisionError"):
        await endpoint.predict(rows(RAISE))
    await endpoint.close()


def test_instances_share_the_cores_unless_the_version_sets_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "usable_cores", lambda: 4)
    assert local.share_of_cores(served(), 2).load.parameters["threads"] == 2
    assert local.share_of_cores(served(), 3).load.parameters["threads"] == 1
    assert local.share_of_cores(served(), 8).load.parameters["threads"] == 1
    assert local.share_of_cores(served(threads=3), 2).load.parameters["threads"] == 3


def test_the_cores_are_those_this_process_may_use() -> None:
    assert 1 <= local.usable_cores() <= (os.cpu_count() or 1)
