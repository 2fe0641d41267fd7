"""The ``modelmart`` command line: the SDK with tables, progress bars and spinners.

::

    modelmart serve --data-dir ./mm
    modelmart models push iris iris.onnx --task classification --metric accuracy=0.97
    modelmart deploy iris --instances 2
    modelmart predict iris --data '[[5.1, 3.5, 1.4, 0.2]]'
    modelmart catalog

Errors print ``error [code]: message`` on stderr and exit with status 1; usage errors exit 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from modelmart.cli import (
    billing,
    catalog,
    datasets,
    deployments,
    explain,
    models,
    output,
    serve,
    training,
)
from modelmart.cli.session import Session
from modelmart.client.core import DEFAULT_URL
from modelmart.errors import ModelMartError


class ReportingGroup(TyperGroup):
    """Turns a ModelMart error from any command into one red line and exit status 1, instead
    of a traceback."""

    # ``ctx`` is typer's vendored click Context; its class is private, hence Any.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ModelMartError as exc:
            output.report_error(exc)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=ReportingGroup,
    name="modelmart",
    help="ModelMart: register, deploy and serve models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="MODELMART_URL", help="The ModelMart server to talk to.")
    ] = DEFAULT_URL,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print raw JSON, for scripts, instead of tables.")
    ] = False,
) -> None:
    ctx.obj = Session(url=url, json=json_output)


app.command()(serve.serve)
app.add_typer(models.app, name="models")
app.command()(deployments.deploy)
app.command("deployments")(deployments.list_deployments)
app.command()(deployments.scale)
app.command()(deployments.autoscale)
app.command()(deployments.undeploy)
app.command()(deployments.predict)
app.command()(explain.explain)
app.command()(catalog.catalog)
app.add_typer(datasets.app, name="datasets")
app.command()(training.train)
app.add_typer(training.jobs_app, name="jobs")
app.command()(training.report)
app.command()(training.compare)
app.add_typer(billing.keys_app, name="keys")
app.command()(billing.usage)
app.command()(billing.invoice)
app.command("pii-policy")(billing.pii_policy)
