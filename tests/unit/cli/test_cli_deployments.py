"""Serving commands against a fake server."""

from __future__ import annotations

import json

import pytest

from .cli_fakes import FakeServer, deployment_view

DEPLOYMENTS = "/v1/deployments"


def test_deploy_waits_by_default_and_prints_the_deployment(cli, server: FakeServer):
    server.on("POST", DEPLOYMENTS, 201, deployment_view("iris-prod", alias="production"))

    result = cli(
        "deploy", "iris", "--alias", "production", "--name", "iris-prod", "--instances", "2",
        "--max-batch-size", "64", "--max-delay-ms", "2.5", "--timeout-s", "10",
        "--isolation", "thread",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert server.last.url.params["wait"] == "true"
    assert json.loads(server.last.content) == {
        "model": "iris", "alias": "production", "name": "iris-prod", "instances": 2,
        "max_batch_size": 64, "max_delay_ms": 2.5, "timeout_s": 10.0, "isolation": "thread",
    }  # fmt: skip
    assert "iris-prod" in result.stdout
    assert "@production" in result.stdout


def test_deploy_no_wait(cli, server: FakeServer):
    server.on("POST", DEPLOYMENTS, 201, deployment_view(state="loading", ready_instances=0))

    result = cli("--json", "deploy", "iris", "--version", "1", "--no-wait")

    assert result.exit_code == 0, result.output
    assert server.last.url.params["wait"] == "false"
    assert json.loads(result.stdout)["state"] == "loading"


@pytest.mark.parametrize(
    "args",
    [
        ["--version", "1", "--alias", "production"],
        ["--instances", "0"],
        ["--isolation", "container"],
    ],
)
def test_deploy_usage_errors_exit_2_without_a_request(cli, server: FakeServer, args):
    result = cli("deploy", "iris", *args)

    assert result.exit_code == 2
    assert server.requests == []


def test_deploy_failure_prints_the_error(cli, server: FakeServer):
    server.fail("POST", DEPLOYMENTS, 404, "version_not_found", "iris has no version 9")

    result = cli("deploy", "iris", "--version", "9")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error [version_not_found]: iris has no version 9"


def test_deployments_lists_them(cli, server: FakeServer):
    failed = deployment_view(
        "bad",
        state="failed",
        ready_instances=0,
        error={"code": "invalid_artifact", "message": "cannot load"},
    )
    server.on("GET", DEPLOYMENTS, json={"deployments": [deployment_view(), failed]})  # fmt: skip

    result = cli("deployments")

    assert result.exit_code == 0, result.output
    assert "iris" in result.stdout
    assert "failed cannot load" in result.stdout
    assert "1/1" in result.stdout


def test_scale_and_undeploy(cli, server: FakeServer):
    server.on("PATCH", f"{DEPLOYMENTS}/iris", json=deployment_view(instances=4))
    server.on("DELETE", f"{DEPLOYMENTS}/iris", 204)

    scaled = cli("scale", "iris", "4")
    assert scaled.exit_code == 0, scaled.output
    assert json.loads(server.last.content) == {"instances": 4}
    undeployed = cli("undeploy", "iris")
    assert undeployed.exit_code == 0, undeployed.output
    assert "Undeployed iris" in undeployed.stdout
    assert server.last.method == "DELETE"


def test_predict_with_data_prints_predictions_as_json(cli, server: FakeServer):
    server.on("POST", "/v1/models/iris:predict",
              json={"model": "iris", "version": 1, "predictions": [0, 2]})  # fmt: skip

    result = cli("--json", "predict", "iris", "--data", "[[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [0, 2]
    assert json.loads(server.last.content) == {"instances": [[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]}


def test_predict_with_a_file_of_columns(cli, server: FakeServer, tmp_path):
    server.on("POST", "/v1/models/iris:predict",
              json={"model": "iris", "version": 1, "predictions": [{"label": 1}]})  # fmt: skip
    examples = tmp_path / "examples.json"
    examples.write_text('{"inputs": {"input": [[1, 2, 3, 4]]}}')

    result = cli("predict", "iris", "--file", str(examples))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"label": 1}]
    assert json.loads(server.last.content) == {"inputs": {"input": [[1, 2, 3, 4]]}}


@pytest.mark.parametrize(
    "args", [[], ["--data", "[1]", "--file", "x.json"], ["--data", "{oops"], ["--data", "42"]]
)
def test_predict_needs_one_valid_json_source(cli, server: FakeServer, tmp_path, args):
    (tmp_path / "x.json").write_text("[1]")
    args = [str(tmp_path / a) if a == "x.json" else a for a in args]

    result = cli("predict", "iris", *args)

    assert result.exit_code == 2
    assert server.requests == []


def test_predict_schema_errors_exit_1(cli, server: FakeServer):
    server.fail("POST", "/v1/models/iris:predict", 422, "schema_mismatch", "expected 4 values")

    result = cli("predict", "iris", "--data", "[[1]]")

    assert result.exit_code == 1
    assert "error [schema_mismatch]: expected 4 values" in result.stderr


def test_autoscale_sets_the_bounds_and_the_table_shows_desired_of_ready(cli, server: FakeServer):
    view = deployment_view(min_instances=0, max_instances=4, desired_instances=3,
                           ready_instances=2, target_ongoing_requests=5.0)  # fmt: skip
    server.on("PATCH", f"{DEPLOYMENTS}/iris", 200, view)

    result = cli("autoscale", "iris", "--min", "0", "--max", "4", "--target", "5")

    assert result.exit_code == 0, result.output
    assert json.loads(server.last.content) == {
        "min_instances": 0, "max_instances": 4, "target_ongoing_requests": 5.0,
    }  # fmt: skip
    assert "2/3 (0-4)" in result.stdout


def test_deploy_passes_autoscaling_bounds(cli, server: FakeServer):
    server.on("POST", DEPLOYMENTS, 201, deployment_view(min_instances=1, max_instances=3))

    result = cli("deploy", "iris", "--min-instances", "1", "--max-instances", "3")

    assert result.exit_code == 0, result.output
    body = json.loads(server.last.content)
    assert (body["min_instances"], body["max_instances"]) == (1, 3)


def test_deploy_with_a_queue_limit_and_cpus_shows_them(cli, server: FakeServer):
    view = deployment_view(cpus=[0, 1, 4], max_queued_requests=8, queue_depth=3)
    server.on("POST", DEPLOYMENTS, 201, view)

    result = cli("deploy", "iris", "--max-queued-requests", "8", "--cpus", "4,0-1")

    assert result.exit_code == 0, result.output
    sent = json.loads(server.last.content)
    assert (sent["max_queued_requests"], sent["cpus"]) == (8, [0, 1, 4])
    assert "process on 0-1,4" in result.stdout
    assert "3 / 8" in result.stdout


def test_deploy_refuses_a_malformed_cpu_list(cli, server: FakeServer):
    result = cli("deploy", "iris", "--cpus", "two")

    assert result.exit_code != 0
    assert "not a CPU list" in result.output
    assert server.requests == []
