"""The asyncio SDK: :class:`AsyncClient`, the coroutine twin of
:class:`~modelmart.client.sync.Client`. Each method drives the same flow from
:mod:`.registry` or :mod:`.serving`; this class only sends the requests."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import httpx

from modelmart.client import accounts, registry, serving
from modelmart.client.core import (
    Call,
    Flow,
    T,
    auth_headers,
    drive_async,
    resolve_base_url,
    unreachable,
)
from modelmart.client.serving import DeploymentChanges, DeployOptions
from modelmart.client.sync import USER_AGENT
from modelmart.client.training import AsyncTrainingMethods
from modelmart.client.uploads import Progress
from modelmart.schemas.accounts import CreatedKey, KeyView, OrganizationView
from modelmart.schemas.catalog import CatalogModel
from modelmart.schemas.deployments import DeploymentView
from modelmart.schemas.explanations import Explanation
from modelmart.schemas.health import Health, Readiness
from modelmart.schemas.registry import (
    AliasInfo,
    DeclaredCard,
    ModelInfo,
    VersionCard,
    VersionInfo,
)
from modelmart.schemas.roles import Role
from modelmart.types import ArtifactFormat, Signature, Task


class AsyncClient(AsyncTrainingMethods):
    """A ModelMart server, over HTTP, for asyncio code: the methods of
    :class:`~modelmart.client.sync.Client` as coroutines, raising the same errors::

        async with AsyncClient("http://127.0.0.1:8000") as mm:
            await mm.deploy("iris")
            await mm.predict("iris", [[5.1, 3.5, 1.4, 0.2]])

    Uploads read the artifact from disk (and zip a directory) in the event loop's thread.
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 60.0,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=resolve_base_url(base_url),
            timeout=timeout,
            transport=transport,
            headers=auth_headers(api_key, {"User-Agent": USER_AGENT}),
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        request = call.build(self._http)
        try:
            return await self._http.send(request)
        except httpx.TransportError as exc:
            raise unreachable(exc, request) from exc

    async def _run(self, flow: Flow[T]) -> T:
        return await drive_async(flow, self._send)

    # Registry

    async def create_model(
        self, name: str, task: Task | str = Task.CUSTOM, *, description: str = "", owner: str = ""
    ) -> ModelInfo:
        """Register a model called ``name``; ``AlreadyExists`` when the name is taken."""
        return await self._run(registry.create_model(name, task, description, owner))

    async def list_models(self) -> list[ModelInfo]:
        return await self._run(registry.list_models())

    async def get_model(self, name: str) -> ModelInfo:
        return await self._run(registry.get_model(name))

    async def push_version(  # noqa: PLR0913 - one keyword per piece of version metadata
        self,
        model: str,
        path: str | Path,
        *,
        format: ArtifactFormat | str | None = None,
        signature: Signature | dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        lineage: dict[str, Any] | None = None,
        task: Task | str | None = None,
        progress: Progress | None = None,
        card: DeclaredCard | dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Upload a model file or directory as the next version of ``model``; see
        :func:`modelmart.client.registry.push_version`."""
        return await self._run(
            registry.push_version(
                model,
                path,
                format=format,
                signature=signature,
                parameters=parameters,
                metrics=metrics,
                lineage=lineage,
                task=task,
                progress=progress,
                card=card,
            )
        )

    async def list_versions(self, model: str) -> list[VersionInfo]:
        return await self._run(registry.list_versions(model))

    async def get_version(self, model: str, ref: int | str) -> VersionInfo:
        """Version ``ref`` of ``model``: a version number or an alias."""
        return await self._run(registry.get_version(model, ref))

    async def model_card(self, model: str, ref: int | str = "latest") -> VersionCard:
        """The model card of version ``ref`` (a number or an alias) of ``model``."""
        return await self._run(registry.model_card(model, ref))

    async def model_card_markdown(self, model: str, ref: int | str = "latest") -> str:
        """The model card of version ``ref`` as Markdown, rendered by the server."""
        return await self._run(registry.model_card_markdown(model, ref))

    async def set_alias(self, model: str, alias: str, version: int) -> AliasInfo:
        return await self._run(registry.set_alias(model, alias, version))

    async def delete_alias(self, model: str, alias: str) -> None:
        await self._run(registry.delete_alias(model, alias))

    # Catalogue

    async def catalog(self) -> list[CatalogModel]:
        """The built-in catalogue: each model's card (licence, size, measured quality and
        latency), its latest version and whether it is deployed. Deploy one by name."""
        return await self._run(registry.catalog())

    async def catalog_entry(self, name: str) -> CatalogModel:
        return await self._run(registry.catalog_entry(name))

    # Serving

    async def deploy(
        self, model: str, *, wait: bool = True, **options: Unpack[DeployOptions]
    ) -> DeploymentView:
        """Serve ``model`` (pinned ``version``, following ``alias``, or its latest version);
        with ``wait``, return once every instance has loaded."""
        return await self._run(serving.deploy(model, wait, options))

    async def list_deployments(self) -> list[DeploymentView]:
        return await self._run(serving.list_deployments())

    async def get_deployment(self, name: str) -> DeploymentView:
        return await self._run(serving.get_deployment(name))

    async def update_deployment(
        self, name: str, **changes: Unpack[DeploymentChanges]
    ) -> DeploymentView:
        """Scale, retune or retarget a deployment without dropping requests."""
        return await self._run(serving.update_deployment(name, changes))

    async def scale(self, name: str, instances: int) -> DeploymentView:
        return await self.update_deployment(name, instances=instances)

    async def undeploy(self, name: str) -> None:
        await self._run(serving.undeploy(name))

    async def predict(self, name: str, instances: Any = None, *, inputs: Any = None) -> list[Any]:
        """One prediction per example, given as ``instances`` rows or ``inputs`` columns."""
        return await self._run(serving.predict(name, instances, inputs))

    async def explain(self, name: str, instances: Any = None, *, inputs: Any = None) -> Explanation:
        """The predictions with each instance's attributions, the method and its parameters
        (``POST /v1/models/{name}:explain``; same examples as :meth:`predict`)."""
        return await self._run(serving.explain(name, instances, inputs))

    async def health(self) -> Health:
        return await self._run(serving.health())

    async def ready(self) -> Readiness:
        return await self._run(serving.ready())

    # --- accounts and billing -----------------------------------------------------------

    async def whoami(self) -> dict[str, Any]:
        """The organisation and role of this client's API key."""
        return await self._run(accounts.whoami())

    async def create_key(
        self,
        org: str,
        name: str,
        *,
        role: Role | str = Role.INFERENCE,
        models: list[str] | None = None,
        expires_in_days: int | None = None,
        pii_policy: str | None = None,
    ) -> CreatedKey:
        """A new API key for ``org``; its secret (``.key``) is shown this once only.
        ``pii_policy`` adds to the organisation's (the strictest is in force)."""
        flow = accounts.create_key(org, name, role, models, expires_in_days, pii_policy)
        return await self._run(flow)

    async def set_org_pii_policy(self, org: str, policy: str) -> OrganizationView:
        """Set ``org``'s PII policy: off, detect, redact-output or redact-input."""
        return await self._run(accounts.set_org_pii_policy(org, policy))

    async def list_keys(self, org: str) -> list[KeyView]:
        return await self._run(accounts.list_keys(org))

    async def revoke_key(self, org: str, key_id: int) -> KeyView:
        return await self._run(accounts.revoke_key(org, key_id))

    async def update_key(
        self, org: str, key_id: int, **changes: Unpack[accounts.KeyChanges]
    ) -> KeyView:
        """Change key ``key_id``'s own ``requests_per_minute`` or ``pii_policy`` (None
        clears it); its secret, role and models stay."""
        return await self._run(accounts.update_key(org, key_id, changes))

    async def rotate_key(self, org: str, key_id: int) -> CreatedKey:
        return await self._run(accounts.rotate_key(org, key_id))

    async def usage(
        self, group_by: str = "day", organisation: str | None = None
    ) -> list[dict[str, Any]]:
        """This month's units, summed by ``day``, ``model`` or ``key``."""
        return await self._run(accounts.usage(group_by, organisation))

    async def invoice(self, org: str, period: str, format: str = "json") -> Any:
        """The invoice of ``period`` (``2026-11``): a dict, or CSV / HTML text."""
        return await self._run(accounts.invoice(org, period, format))
