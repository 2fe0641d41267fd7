"""``modelmart serve``: run the ModelMart server in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from modelmart.config import Settings
from modelmart.errors import ValidationFailed


def build_settings(**overrides: Any) -> Settings:
    """Settings from ``MODELMART_*`` variables, with the flags that were given on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        ]
        raise ValidationFailed(
            "the server settings are not valid: "
            + "; ".join(problems)
            + ". Fix the flag or the MODELMART_* environment variable",
            details={"problems": problems},
        ) from exc


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on.", show_default="127.0.0.1")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on.", show_default="8000")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Database, artifacts and caches.", show_default="modelmart-data"),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL.", show_default="SQLite in the data dir")
    ] = None,
) -> None:
    """Run the ModelMart server: registry, deployments and inference on one port."""
    settings = build_settings(host=host, port=port, data_dir=data_dir, database_url=database_url)
    # Imported here, not at the top: the server pulls in FastAPI and the runtimes, which
    # every other command would otherwise pay for at start-up, and which `pip install
    # modelmart` (the SDK and the CLI alone) does not install.
    try:
        import uvicorn

        from modelmart.gateway.app import create_app
        from modelmart.gateway.observability import configure_logging
    except ModuleNotFoundError as exc:
        typer.echo(
            f"error: modelmart serve needs the server's dependencies and {exc.name} is not "
            "installed; install them with: pip install 'modelmart[server]'",
            err=True,
        )
        raise typer.Exit(1) from exc

    configure_logging(settings)
    # log_config=None: uvicorn's own lines go through the JSON handler set up above.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
    )
