"""The dataset, job and report methods of :class:`~modelmart.client.Client` and
:class:`~modelmart.client.AsyncClient`, as mixins: each method drives a flow from
:mod:`.datasets` or :mod:`.jobs`; watching a job reads its server-sent event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from modelmart.client import datasets, jobs
from modelmart.client.core import Flow, T, raise_for_error, unreachable
from modelmart.client.jobs import EventStreamDecoder, JobUpdate
from modelmart.client.uploads import Progress
from modelmart.schemas.datasets import DatasetInfo, DatasetPreview
from modelmart.schemas.jobs import JobInfo


def _spec_flow(dataset: str, task: str, options: dict[str, Any]) -> Flow[JobInfo]:
    return jobs.train(dataset, task, **options)


class TrainingMethods:
    """Datasets, training jobs and reports for the blocking client."""

    _http: httpx.Client

    def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    def push_dataset(
        self,
        name: str,
        path: str | Path,
        *,
        kind: str | None = None,
        target: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> DatasetInfo:
        """Upload a table or a zip as the next version of dataset ``name``."""
        flow = datasets.push_dataset(
            name, path, kind=kind, target=target, description=description, progress=progress
        )
        return self._run(flow)

    def list_datasets(self) -> list[DatasetInfo]:
        return self._run(datasets.list_datasets())

    def get_dataset(self, name: str, version: int | None = None) -> DatasetInfo:
        return self._run(datasets.get_dataset(name, version))

    def preview_dataset(
        self, name: str, version: int | None = None, rows: int = 20
    ) -> DatasetPreview:
        return self._run(datasets.preview_dataset(name, version, rows))

    def train(self, dataset: str, task: str, **options: Any) -> JobInfo:
        """Queue a training job; see :func:`modelmart.client.jobs.train` for ``options``
        (family, model, hyperparameters, dataset_version, spec). Follow it with
        :meth:`watch_job` or :meth:`wait_for_job`."""
        return self._run(_spec_flow(dataset, task, options))

    def list_jobs(self) -> list[JobInfo]:
        return self._run(jobs.list_jobs())

    def get_job(self, job_id: str) -> JobInfo:
        return self._run(jobs.get_job(job_id))

    def cancel_job(self, job_id: str) -> JobInfo:
        return self._run(jobs.cancel_job(job_id))

    def job_logs(self, job_id: str) -> str:
        return self._run(jobs.job_logs(job_id))

    def watch_job(self, job_id: str) -> Iterator[JobUpdate]:
        """Progress events and state changes as they happen; ends when the job finishes."""
        request = jobs.events_call(job_id).build(self._http)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(exc, request) from exc
        try:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            decoder = EventStreamDecoder(response)
            for line in response.iter_lines():
                if (update := decoder.feed(line)) is not None:
                    yield update
        finally:
            response.close()

    def wait_for_job(self, job_id: str) -> JobInfo:
        """The job once it has finished (succeeded, failed or cancelled)."""
        for _ in self.watch_job(job_id):
            pass
        return self.get_job(job_id)

    def report(self, model: str, version: int | str) -> dict[str, Any]:
        return self._run(jobs.report(model, version))

    def report_html(self, model: str, version: int | str) -> str:
        return self._run(jobs.report_html(model, version))

    def compare(self, model: str, a: int, b: int, *, html: bool = False) -> Any:
        return self._run(jobs.compare(model, a, b, html=html))


class AsyncTrainingMethods:
    """Datasets, training jobs and reports for the asyncio client."""

    _http: httpx.AsyncClient

    async def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    async def push_dataset(
        self,
        name: str,
        path: str | Path,
        *,
        kind: str | None = None,
        target: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> DatasetInfo:
        flow = datasets.push_dataset(
            name, path, kind=kind, target=target, description=description, progress=progress
        )
        return await self._run(flow)

    async def list_datasets(self) -> list[DatasetInfo]:
        return await self._run(datasets.list_datasets())

    async def get_dataset(self, name: str, version: int | None = None) -> DatasetInfo:
        return await self._run(datasets.get_dataset(name, version))

    async def preview_dataset(
        self, name: str, version: int | None = None, rows: int = 20
    ) -> DatasetPreview:
        return await self._run(datasets.preview_dataset(name, version, rows))

    async def train(self, dataset: str, task: str, **options: Any) -> JobInfo:
        return await self._run(_spec_flow(dataset, task, options))

    async def list_jobs(self) -> list[JobInfo]:
        return await self._run(jobs.list_jobs())

    async def get_job(self, job_id: str) -> JobInfo:
        return await self._run(jobs.get_job(job_id))

    async def cancel_job(self, job_id: str) -> JobInfo:
        return await self._run(jobs.cancel_job(job_id))

    async def job_logs(self, job_id: str) -> str:
        return await self._run(jobs.job_logs(job_id))

    async def watch_job(self, job_id: str) -> AsyncIterator[JobUpdate]:
        request = jobs.events_call(job_id).build(self._http)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(exc, request) from exc
        try:
            if not response.is_success:
                await response.aread()
                raise_for_error(response)
            decoder = EventStreamDecoder(response)
            async for line in response.aiter_lines():
                if (update := decoder.feed(line)) is not None:
                    yield update
        finally:
            await response.aclose()

    async def wait_for_job(self, job_id: str) -> JobInfo:
        async for _ in self.watch_job(job_id):
            pass
        return await self.get_job(job_id)

    async def report(self, model: str, version: int | str) -> dict[str, Any]:
        return await self._run(jobs.report(model, version))

    async def report_html(self, model: str, version: int | str) -> str:
        return await self._run(jobs.report_html(model, version))

    async def compare(self, model: str, a: int, b: int, *, html: bool = False) -> Any:
        return await self._run(jobs.compare(model, a, b, html=html))
