"""The blocking SDK: :class:`Client`. Each method drives a flow from :mod:`.registry` or
:mod:`.serving`; this class only sends the requests."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import httpx

from modelmart.client import accounts, registry, serving
from modelmart.client.core import Call, Flow, T, auth_headers, drive, resolve_base_url, unreachable
from modelmart.client.serving import DeploymentChanges, DeployOptions
from modelmart.client.training import TrainingMethods
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

USER_AGENT = "modelmart-python"


class Client(TrainingMethods):
    """A ModelMart server, over HTTP.

    Every failure raises the :mod:`modelmart.errors` class the server reported
    (``ModelNotFound``, ``SchemaMismatch``, ...); a server that cannot be reached raises
    ``NotReady``. Use it as a context manager, or call :meth:`close`::

        with Client("http://127.0.0.1:8000") as mm:
            mm.push_version("iris", "iris.onnx", task="classification")
            mm.deploy("iris")
            mm.predict("iris", [[5.1, 3.5, 1.4, 0.2]])
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 60.0,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=resolve_base_url(base_url),
            timeout=timeout,
            transport=transport,
            headers=auth_headers(api_key, {"User-Agent": USER_AGENT}),
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: Call) -> httpx.Response:
        request = call.build(self._http)
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise unreachable(exc, request) from exc

    def _run(self, flow: Flow[T]) -> T:
        return drive(flow, self._send)

    # Registry

    def create_model(
        self, name: str, task: Task | str = Task.CUSTOM, *, description: str = "", owner: str = ""
    ) -> ModelInfo:
        """Register a model called ``name``; ``AlreadyExists`` when the name is taken."""
        return self._run(registry.create_model(name, task, description, owner))

    def list_models(self) -> list[ModelInfo]:
        return self._run(registry.list_models())

    def get_model(self, name: str) -> ModelInfo:
        return self._run(registry.get_model(name))

    def push_version(  # noqa: PLR0913 - one keyword per piece of version metadata
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
        return self._run(
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

    def list_versions(self, model: str) -> list[VersionInfo]:
        return self._run(registry.list_versions(model))

    def get_version(self, model: str, ref: int | str) -> VersionInfo:
        """Version ``ref`` of ``model``: a version number or an alias."""
        return self._run(registry.get_version(model, ref))

    def model_card(self, model: str, ref: int | str = "latest") -> VersionCard:
        """The model card of version ``ref`` (a number or an alias) of ``model``."""
        return self._run(registry.model_card(model, ref))

    def model_card_markdown(self, model: str, ref: int | str = "latest") -> str:
        """The model card of version ``ref`` as Markdown, rendered by the server."""
        return self._run(registry.model_card_markdown(model, ref))

    def set_alias(self, model: str, alias: str, version: int) -> AliasInfo:
        return self._run(registry.set_alias(model, alias, version))

    def delete_alias(self, model: str, alias: str) -> None:
        self._run(registry.delete_alias(model, alias))

    # Catalogue

    def catalog(self) -> list[CatalogModel]:
        """The built-in catalogue: each model's card (licence, size, measured quality and
        latency), its latest version and whether it is deployed. Deploy one by name."""
        return self._run(registry.catalog())

    def catalog_entry(self, name: str) -> CatalogModel:
        return self._run(registry.catalog_entry(name))

    # Serving

    def deploy(
        self, model: str, *, wait: bool = True, **options: Unpack[DeployOptions]
    ) -> DeploymentView:
        """Serve ``model`` (pinned ``version``, following ``alias``, or its latest version);
        with ``wait``, return once every instance has loaded."""
        return self._run(serving.deploy(model, wait, options))

    def list_deployments(self) -> list[DeploymentView]:
        return self._run(serving.list_deployments())

    def get_deployment(self, name: str) -> DeploymentView:
        return self._run(serving.get_deployment(name))

    def update_deployment(self, name: str, **changes: Unpack[DeploymentChanges]) -> DeploymentView:
        """Scale, retune or retarget a deployment without dropping requests."""
        return self._run(serving.update_deployment(name, changes))

    def scale(self, name: str, instances: int) -> DeploymentView:
        return self.update_deployment(name, instances=instances)

    def undeploy(self, name: str) -> None:
        self._run(serving.undeploy(name))

    def predict(self, name: str, instances: Any = None, *, inputs: Any = None) -> list[Any]:
        """One prediction per example, given as ``instances`` rows or ``inputs`` columns."""
        return self._run(serving.predict(name, instances, inputs))

    def explain(self, name: str, instances: Any = None, *, inputs: Any = None) -> Explanation:
        """The predictions with each instance's attributions, the method and its parameters
        (``POST /v1/models/{name}:explain``; same examples as :meth:`predict`)."""
        return self._run(serving.explain(name, instances, inputs))

    def health(self) -> Health:
        return self._run(serving.health())

    def ready(self) -> Readiness:
        return self._run(serving.ready())

    # --- accounts and billing -----------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The organisation and role of this client's API key."""
        return self._run(accounts.whoami())

    def create_key(
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
        return self._run(flow)

    def set_org_pii_policy(self, org: str, policy: str) -> OrganizationView:
        """Set ``org``'s PII policy: off, detect, redact-output or redact-input."""
        return self._run(accounts.set_org_pii_policy(org, policy))

    def list_keys(self, org: str) -> list[KeyView]:
        return self._run(accounts.list_keys(org))

    def revoke_key(self, org: str, key_id: int) -> KeyView:
        return self._run(accounts.revoke_key(org, key_id))

    def update_key(self, org: str, key_id: int, **changes: Unpack[accounts.KeyChanges]) -> KeyView:
        """Change key ``key_id``'s own ``requests_per_minute`` or ``pii_policy`` (None
        clears it); its secret, role and models stay."""
        return self._run(accounts.update_key(org, key_id, changes))

    def rotate_key(self, org: str, key_id: int) -> CreatedKey:
        return self._run(accounts.rotate_key(org, key_id))

    def usage(self, group_by: str = "day", organisation: str | None = None) -> list[dict[str, Any]]:
        """This month's units, summed by ``day``, ``model`` or ``key``."""
        return self._run(accounts.usage(group_by, organisation))

    def invoice(self, org: str, period: str, format: str = "json") -> Any:
        """The invoice of ``period`` (``2026-11``): a dict, or CSV / HTML text."""
        return self._run(accounts.invoice(org, period, format))
