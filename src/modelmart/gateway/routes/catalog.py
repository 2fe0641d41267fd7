"""The built-in catalogue: ``/v1/catalog`` — model cards with their state on this server.

Deploy an entry like any model: ``POST /v1/deployments {"model": "<name>"}``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from modelmart.gateway.auth import Reader
from modelmart.gateway.services import Services, get_services
from modelmart.schemas.catalog import CatalogModel, ModelCard
from modelmart.tenancy import Principal

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])
ServicesDep = Annotated[Services, Depends(get_services)]


async def _with_state(
    principal: Principal, services: Services, cards: list[ModelCard]
) -> list[CatalogModel]:
    """The cards with what ``principal`` may see of them: their latest version, and whether a
    deployment it may use serves them."""
    models = await asyncio.to_thread(services.registry.visible_models, principal)
    latest = {model.name: model.latest_version for model in models}
    # The manager is used from the event loop only, so it is read here, not in a thread.
    deployed = {view.model for view in services.deployments.visible(principal)}
    return [
        CatalogModel(
            **card.model_dump(),
            latest_version=latest.get(card.name),
            deployed=card.name in deployed,
        )
        for card in cards
    ]


@router.get("")
async def list_catalogue(principal: Reader, services: ServicesDep) -> dict[str, list[CatalogModel]]:
    """Every catalogue model: its card, latest version, and whether it is deployed here."""
    cards = await asyncio.to_thread(services.catalogue.cards)  # reads package metadata from disk
    return {"models": await _with_state(principal, services, cards)}


@router.get("/{name}")
async def get_catalogue_entry(name: str, principal: Reader, services: ServicesDep) -> CatalogModel:
    """One catalogue model; 404 naming the catalogue's models when there is no such entry."""
    card = await asyncio.to_thread(services.catalogue.card, name)
    (model,) = await _with_state(principal, services, [card])
    return model
