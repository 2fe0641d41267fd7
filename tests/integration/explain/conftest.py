from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmart.config import Settings
from tests.integration.servers import LiveServer, live_server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the package; two training slots so the models train side by side."""
    data_dir = tmp_path_factory.mktemp("explain") / "data"
    with live_server(Settings(data_dir=data_dir, json_logs=False, training_workers=2)) as live:
        yield live
