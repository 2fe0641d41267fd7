"""Prices per model and unit: ``amount`` for every ``per`` units (e.g. 0.02 USD per 1000
tokens). A model without its own price for a unit uses the ``*`` price; none means free.

Prices name models by their stored names (``org:name`` for an organisation's), and a caller
is shown the prices of the models it may see only."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from modelmart.billing.amounts import Amount, Unit
from modelmart.tenancy import Principal

ANY_MODEL = "*"
_LIST_COSTS_KEPT = 1024


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, description="a model name, or '*' for every model")
    unit: Unit
    amount: Amount
    per: int = Field(default=1, gt=0, description="the number of units the amount buys")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    publisher: str | None = Field(
        default=None, description="the organisation paid for this model's use, if not the operator"
    )

    @field_serializer("amount")
    def _amount(self, value: Decimal) -> str:
        return str(value)

    def cost(self, units: Decimal) -> Decimal:
        return self.amount * units / self.per


class PriceBook:
    """Prices looked up by (model, unit), exact model first. A book is replaced, never
    changed, when a price changes, so what it computes from its prices can be kept."""

    def __init__(self, prices: list[Price]) -> None:
        self._prices = {(price.model, price.unit): price for price in prices}
        self._list_costs: dict[tuple[str, tuple[tuple[str, Decimal], ...]], Decimal] = {}

    def price(self, model: str, unit: str) -> Price | None:
        return self._prices.get((model, unit)) or self._prices.get((ANY_MODEL, unit))

    def list_cost(self, model: str, units: Mapping[str, Decimal]) -> Decimal:
        """What ``units`` of ``model`` cost at list price, kept per distinct usage: a model's
        requests mostly report the same units, and the decimal arithmetic is then done once."""
        key = (model, tuple(units.items()))
        cost = self._list_costs.get(key)
        if cost is None:
            if len(self._list_costs) >= _LIST_COSTS_KEPT:
                self._list_costs.clear()
            cost = self._list_costs[key] = sum(
                (
                    price.cost(amount)
                    for unit, amount in units.items()
                    if (price := self.price(model, unit)) is not None
                ),
                Decimal(0),
            )
        return cost

    def prices(self) -> list[Price]:
        return sorted(self._prices.values(), key=lambda price: (price.model, price.unit))


def visible_prices(
    principal: Principal, prices: list[Price], owners: Mapping[str, str]
) -> list[Price]:
    """The ``prices`` ``principal`` may see: the ``*`` ones, and those of models it may see
    (``owners`` maps each existing model's stored name to its owner). A price left behind by
    a deleted model is the operator's to see and remove."""
    return [
        price
        for price in prices
        if price.model == ANY_MODEL
        or (
            principal.can_see_model(price.model, owners[price.model])
            if price.model in owners
            else principal.is_operator
        )
    ]
