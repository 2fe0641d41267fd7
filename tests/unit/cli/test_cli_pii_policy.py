"""Setting PII policies from the command line, against a fake server."""

from __future__ import annotations

import json

from .cli_fakes import FakeServer, deployment_view

ORG_VIEW = {
    "id": 2,
    "slug": "acme",
    "name": "Acme",
    "plan": "free",
    "is_operator": False,
    "data_sharing_consent": False,
    "monthly_budget": None,
    "budget_action": "stop",
    "pii_policy": "redact-input",
    "created_at": "2026-12-01T00:00:00Z",
}


def test_an_organisations_policy_is_patched(cli, server: FakeServer):
    server.on("PATCH", "/v1/orgs/acme", 200, ORG_VIEW)

    result = cli("pii-policy", "redact-input", "--org", "acme")

    assert result.exit_code == 0, result.output
    assert json.loads(server.last.content) == {"pii_policy": "redact-input"}
    assert "redact-input" in result.stdout


def test_a_deployments_policy_is_patched(cli, server: FakeServer):
    server.on("PATCH", "/v1/deployments/iris", 200, deployment_view(pii_policy="detect"))

    result = cli("pii-policy", "detect", "--deployment", "iris")

    assert result.exit_code == 0, result.output
    assert json.loads(server.last.content) == {"pii_policy": "detect"}


def test_deploy_and_keys_create_send_the_policy(cli, server: FakeServer):
    server.on("POST", "/v1/deployments", 201, deployment_view(pii_policy="redact-output"))
    deployed = cli("deploy", "iris", "--pii-policy", "redact-output")
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(server.last.content)["pii_policy"] == "redact-output"

    created = {
        "id": 5, "name": "bot", "prefix": "mm_abc", "role": "inference", "models": None,
        "requests_per_minute": None, "pii_policy": "detect", "created_at": "2026-12-01T00:00:00Z",
        "expires_at": None, "revoked_at": None, "key": "mm_abc_secret",
    }  # fmt: skip
    server.on("POST", "/v1/orgs/acme/keys", 201, created)
    made = cli("keys", "create", "acme", "bot", "--pii-policy", "detect")
    assert made.exit_code == 0, made.output
    assert json.loads(server.last.content)["pii_policy"] == "detect"


def test_an_unknown_policy_or_no_target_is_a_usage_error(cli, server: FakeServer):
    assert cli("pii-policy", "everything", "--org", "acme").exit_code == 2
    assert cli("pii-policy", "detect").exit_code == 2
    assert cli("pii-policy", "detect", "--org", "acme", "--deployment", "iris").exit_code == 2
    assert server.requests == []


KEY_VIEW = {
    "id": 5, "name": "bot", "prefix": "mm_abc", "role": "inference", "models": None,
    "requests_per_minute": None, "pii_policy": "redact-input",
    "created_at": "2026-12-01T00:00:00Z", "expires_at": None, "revoked_at": None,
}  # fmt: skip


def test_keys_update_sends_only_what_changes(cli, server: FakeServer):
    server.on("PATCH", "/v1/orgs/acme/keys/5", 200, KEY_VIEW)

    policy = cli("keys", "update", "acme", "5", "--pii-policy", "redact-input")
    assert policy.exit_code == 0, policy.output
    assert json.loads(server.last.content) == {"pii_policy": "redact-input"}
    assert "redact-input" in policy.stdout

    unlimited = cli("keys", "update", "acme", "5", "--no-rate-limit")
    assert unlimited.exit_code == 0, unlimited.output
    assert json.loads(server.last.content) == {"requests_per_minute": None}


def test_keys_update_needs_one_change_and_no_contradiction(cli, server: FakeServer):
    assert cli("keys", "update", "acme", "5").exit_code == 2
    both = cli("keys", "update", "acme", "5", "--requests-per-minute", "10", "--no-rate-limit")
    assert both.exit_code == 2
    assert server.requests == []
