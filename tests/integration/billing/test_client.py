"""The SDK and the CLI speak the accounts and billing API with an API key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from modelmart import Client
from modelmart.cli.main import app
from modelmart.errors import Unauthenticated
from tests.integration.billing.conftest import IRIS_ROW, make_org, serve_iris
from tests.integration.servers import LiveServer


def test_the_sdk_manages_keys_and_reads_usage_and_invoices(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    org = make_org(operator, "sdk-co")
    month = datetime.now(UTC).strftime("%Y-%m")
    with Client(server.url, api_key=org.key) as owner:
        assert owner.whoami()["organisation"] == "sdk-co"
        with org.client(server) as http:
            serve_iris(http, "sdk-iris", iris_file)
        # A key's scope names models as requests do, and holds their full names.
        created = owner.create_key("sdk-co", "app", role="inference", models=["sdk-iris"])
        assert created.key.startswith("mm_")
        assert created.models == ["sdk-co:sdk-iris"]
        assert [key.name for key in owner.list_keys("sdk-co")][-1] == "app"
        with Client(server.url, api_key=created.key) as app_client:
            assert len(app_client.predict("sdk-iris", IRIS_ROW["instances"])) == 1
        rows = owner.usage("key")
        assert {"key": str(created.id), "unit": "requests", "quantity": "1"} in rows
        assert owner.invoice("sdk-co", month)["status"] == "draft"
        assert owner.invoice("sdk-co", month, "csv").startswith("kind,model,unit")
        owner.revoke_key("sdk-co", created.id)
        with Client(server.url, api_key=created.key) as revoked, pytest.raises(Unauthenticated):
            revoked.predict("sdk-iris", IRIS_ROW["instances"])


def test_the_cli_lists_keys_usage_and_invoices(server: LiveServer, operator: httpx.Client) -> None:
    org = make_org(operator, "cli-co")
    env = {"MODELMART_URL": server.url, "MODELMART_API_KEY": org.key}
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "cli-co", "ci", "--role", "viewer"], env=env)
    assert created.exit_code == 0, created.output
    assert "mm_" in created.output
    listed = runner.invoke(app, ["--json", "keys", "list", "cli-co"], env=env)
    assert '"name":"ci"' in listed.output.replace(" ", "")
    month = datetime.now(UTC).strftime("%Y-%m")
    invoice = runner.invoke(app, ["invoice", "cli-co", month, "--format", "csv"], env=env)
    assert invoice.output.splitlines()[0].startswith("kind,model,unit")
    assert runner.invoke(app, ["usage", "--by", "model"], env=env).exit_code == 0
    refused = runner.invoke(app, ["keys", "list", "cli-co"], env={**env, "MODELMART_API_KEY": "x"})
    assert refused.exit_code == 1
    assert "the API key is not valid" in refused.output
