"""The model several gateways serve (their Redis and database come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.models import iris_skops


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_skops(tmp_path_factory.mktemp("iris") / "iris.skops")
