"""What a model or an alias may be called, and the stored name of a model a caller creates
(qualified with its organisation, by the rule in :mod:`modelmart.tenancy`)."""

from __future__ import annotations

import re

from modelmart.errors import InvalidRequest
from modelmart.registry.versions import LATEST
from modelmart.tenancy import Principal

MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")
ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def check_model_name(name: str) -> str:
    if not MODEL_NAME.match(name):
        raise InvalidRequest(
            f"model name {name!r} is not valid; use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def new_model_name(principal: Principal, name: str) -> str:
    """The stored name of a model ``principal`` creates as ``name``: its own part checked with
    :func:`check_model_name`, then qualified with the caller's organisation."""
    return principal.new_name(name, check_model_name)


def check_alias_name(alias: str) -> str:
    if not ALIAS_NAME.match(alias) or alias == LATEST:
        raise InvalidRequest(
            f"alias {alias!r} is not valid; use 1 to 64 lowercase letters, digits, '_' or '-', "
            f"starting with a letter (like production or staging); {LATEST!r} is reserved"
        )
    return alias
