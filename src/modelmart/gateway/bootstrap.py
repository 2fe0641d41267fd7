"""First start: the operator organisation and its owner key, printed once (never a default
password). Set ``MODELMART_BOOTSTRAP_API_KEY`` to choose the key instead (automation)."""

from __future__ import annotations

import sys

from modelmart.accounts.service import AccountService
from modelmart.config import Settings
from modelmart.schemas.accounts import KeyCreate, OrganizationCreate
from modelmart.schemas.roles import Role
from modelmart.tenancy import OPERATOR_SLUG, Principal


def bootstrap_operator(accounts: AccountService, settings: Settings) -> str | None:
    """Make the operator organisation when there is none; the new key, if one was made."""
    if accounts.has_organisations():
        return None
    accounts.create_organisation(
        OrganizationCreate(slug=OPERATOR_SLUG, name="Operator", plan="pay-as-you-go"),
        is_operator=True,
    )
    chosen = settings.bootstrap_api_key
    # No key exists yet to act with: the platform makes the first one as itself.
    created = accounts.create_key(
        Principal.single_user(),
        OPERATOR_SLUG,
        KeyCreate(name="bootstrap", role=Role.OWNER),
        raw=chosen.get_secret_value() if chosen else None,
    )
    if chosen is None:
        print(
            "ModelMart: the operator's owner API key (shown once; keep it, create others "
            f"with it):\n\n    {created.key}\n",
            file=sys.stderr,
            flush=True,
        )
    return created.key
