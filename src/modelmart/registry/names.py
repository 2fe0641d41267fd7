"""What an alias may be called, and the stored name of a model a caller creates
(qualified with its organisation, by the rule in :mod:`modelmart.tenancy`)."""

from __future__ import annotations

import re

from modelmart.errors import InvalidRequest
from modelmart.registry.versions import LATEST
from modelmart.tenancy import Principal

ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def new_model_name(principal: Principal, name: str) -> str:
    """The stored name of a model ``principal`` creates as ``name``."""
    return principal.new_name("model", name)


def check_alias_name(alias: str) -> str:
    if not ALIAS_NAME.match(alias) or alias == LATEST:
        raise InvalidRequest(
            f"alias {alias!r} is not valid; use 1 to 64 lowercase letters, digits, '_' or '-', "
            f"starting with a letter (like production or staging); {LATEST!r} is reserved"
        )
    return alias
