"""Account and billing commands: ``keys``, ``usage`` and ``invoice``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from modelmart.cli import output
from modelmart.cli.session import client
from modelmart.client.accounts import KeyChanges
from modelmart.schemas.accounts import CreatedKey, KeyView
from modelmart.schemas.pii import PiiPolicy
from modelmart.schemas.roles import Role

keys_app = typer.Typer(
    help="Create, list, change, rotate and revoke API keys.", no_args_is_help=True
)


def _keys_table(keys: list[KeyView]) -> Table:
    table = Table("id", "name", "prefix", "role", "models", "pii policy", "expires", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix,
            key.role.value,
            ", ".join(key.models) if key.models is not None else "all",
            key.pii_policy or "",
            key.expires_at.isoformat() if key.expires_at else "never",
            key.revoked_at.isoformat() if key.revoked_at else "",
        )
    return table


def _created_table(key: CreatedKey) -> Table:
    table = Table("key (shown once: store it now)", "id", "role")
    table.add_row(key.key, str(key.id), key.role.value)
    return table


@keys_app.command("list")
def list_keys(ctx: typer.Context, org: str) -> None:
    """List ORG's keys by prefix (secrets are never shown again)."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_keys(org), _keys_table)


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    org: str,
    name: str,
    role: Annotated[Role, typer.Option(help="What the key may do.")] = Role.INFERENCE,
    model: Annotated[
        list[str] | None, typer.Option(help="Limit the key to this model (repeatable).")
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
    pii_policy: Annotated[
        PiiPolicy | None, typer.Option(help="PII policy for this key's requests.")
    ] = None,
) -> None:
    """Create a key for ORG called NAME; its secret is printed this once."""
    policy = None if pii_policy is None else pii_policy.value
    with client(ctx) as mm:
        created = mm.create_key(
            org, name, role=role, models=model, expires_in_days=expires_in_days, pii_policy=policy
        )
    output.show(ctx, created, _created_table)


@keys_app.command("update")
def update_key(
    ctx: typer.Context,
    org: str,
    key_id: int,
    pii_policy: Annotated[
        PiiPolicy | None, typer.Option(help="PII policy for this key's requests.")
    ] = None,
    requests_per_minute: Annotated[
        int | None, typer.Option(help="The key's own limit, below the plan's.", min=1)
    ] = None,
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Drop the key's own limit (the plan's stays).")
    ] = False,
) -> None:
    """Change key KEY_ID's PII policy or rate limit; its secret, role and models stay."""
    if requests_per_minute is not None and no_rate_limit:
        raise typer.BadParameter(
            "give --requests-per-minute or --no-rate-limit, not both", param_hint="--no-rate-limit"
        )
    changes: KeyChanges = {}
    if pii_policy is not None:
        changes["pii_policy"] = pii_policy.value
    if requests_per_minute is not None or no_rate_limit:
        changes["requests_per_minute"] = requests_per_minute
    if not changes:
        raise typer.BadParameter("give --pii-policy, --requests-per-minute or --no-rate-limit")
    with client(ctx) as mm:
        output.show(ctx, [mm.update_key(org, key_id, **changes)], _keys_table)


@keys_app.command("rotate")
def rotate_key(ctx: typer.Context, org: str, key_id: int) -> None:
    """Replace key KEY_ID's secret; the old secret stops working at once."""
    with client(ctx) as mm:
        output.show(ctx, mm.rotate_key(org, key_id), _created_table)


@keys_app.command("revoke")
def revoke_key(ctx: typer.Context, org: str, key_id: int) -> None:
    """Revoke key KEY_ID of ORG."""
    with client(ctx) as mm:
        output.show(ctx, [mm.revoke_key(org, key_id)], _keys_table)


def _usage_table(rows: list[dict[str, Any]]) -> Table:
    group = next((key for key in ("day", "model", "key") if rows and key in rows[0]), "group")
    table = Table(group, "unit", "quantity")
    for row in rows:
        table.add_row(str(row.get(group, "")), row["unit"], row["quantity"])
    return table


def usage(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="Group by day, model or key.")] = "day",
    org: Annotated[str | None, typer.Option(help="Organisation (operators only).")] = None,
) -> None:
    """This month's usage, summed by day, model or key."""
    with client(ctx) as mm:
        output.show(ctx, mm.usage(by, org), _usage_table)


def invoice(
    ctx: typer.Context,
    org: str,
    period: Annotated[str, typer.Argument(help="The month, like 2026-11.")],
    format: Annotated[str, typer.Option(help="json, csv or html.")] = "json",
) -> None:
    """ORG's invoice for PERIOD: final if closed, else the running draft."""
    with client(ctx) as mm:
        document = mm.invoice(org, period, format)
    if format == "json":
        output.print_json(document)
    else:
        typer.echo(document, nl=False)


def pii_policy(
    ctx: typer.Context,
    policy: Annotated[PiiPolicy, typer.Argument(help="The policy to set.")],
    org: Annotated[str | None, typer.Option(help="Set it for this organisation.")] = None,
    deployment: Annotated[str | None, typer.Option(help="Set it for this deployment.")] = None,
) -> None:
    """Set the PII policy of an --org or a --deployment (a key's is set with keys create);
    the strictest of the organisation's, the key's and the deployment's is in force."""
    if (org is None) == (deployment is None):
        raise typer.BadParameter("give --org or --deployment, one of them", param_hint="--org")
    with client(ctx) as mm:
        if org is not None:
            view = mm.set_org_pii_policy(org, policy.value)
            output.say(ctx, f"{org}: PII policy {view.pii_policy}", view.model_dump(mode="json"))
            return
        assert deployment is not None
        changed = mm.update_deployment(deployment, pii_policy=policy.value)
        output.say(
            ctx, f"{deployment}: PII policy {changed.pii_policy}", changed.model_dump(mode="json")
        )
