"""A real Ray cluster on loopback for the cluster tests: a head and two worker nodes.

The cluster is started once for the tests of this folder (about 10 s) and shared: each test
gets its own namespace (:func:`ray_namespace`), whose actors are killed after it, so tests do
not see each other's instances. A test that removes a worker node calls
:meth:`RayTestCluster.restore` (or uses :meth:`RayTestCluster.worker_removed`) so the next
test finds two workers again. The head reserves no CPU: instance actors land only on the
workers, which a test can remove.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import ray
from ray._private import ray_constants
from ray._private.node import Node
from ray.cluster_utils import Cluster

import modelmart
from modelmart.config import Settings

LOOPBACK = "127.0.0.1"
OBJECT_STORE_BYTES = 100 * 1024 * 1024
WORKER_CPUS = 4  # logical: a version swap briefly runs old and new instances side by side
WORKERS = 2
# Notice a lost node within about a second (the defaults take about 15 s), as a production
# cluster tuned for fast failover would.
FAST_FAILURE_DETECTION = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 300,
    "health_check_timeout_ms": 300,
    "health_check_failure_threshold": 3,
}

CLUSTER_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/cluster is marked ``cluster`` (``make test-cluster``)."""
    for item in items:
        if CLUSTER_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@dataclass
class RayTestCluster:
    cluster: Cluster
    workers: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self) -> Node:
        node = self.cluster.add_node(
            node_ip_address=LOOPBACK,
            num_cpus=WORKER_CPUS,
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False,
        )
        self.workers.append(node)
        return node

    def remove_worker(self, node: Node) -> None:
        """Kill ``node`` at once, as a machine that loses power (no graceful drain)."""
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)

    def restore(self) -> None:
        while len(self.workers) < WORKERS:
            self.add_worker()
        self.cluster.wait_for_nodes()

    @contextmanager
    def worker_removed(self, node: Node) -> Iterator[None]:
        self.remove_worker(node)
        try:
            yield
        finally:
            self.restore()

    def alive_nodes(self) -> int:
        return sum(1 for node in ray.nodes() if node["Alive"])


def _workers_import_this_checkout() -> None:
    """Ray's worker processes inherit the environment: make them import this checkout's
    modelmart (the test process may have it on sys.path only)."""
    source = str(Path(modelmart.__file__).resolve().parents[1])
    paths = [source, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


@pytest.fixture(scope="package")  # down again before the rest of the suite runs
def ray_cluster() -> Iterator[RayTestCluster]:
    _workers_import_this_checkout()
    with pytest.MonkeyPatch.context() as patch:
        # Loopback only: without this, Ray swaps 127.0.0.1 for the machine's outward address
        # when it connects (here and in the node processes, which read the variable).
        patch.setenv(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, "0")
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        cluster = Cluster(
            initialize_head=True,
            connect=True,
            head_node_args={
                "node_ip_address": LOOPBACK,
                "num_cpus": 0,
                "object_store_memory": OBJECT_STORE_BYTES,
                "include_dashboard": False,
                "_system_config": FAST_FAILURE_DETECTION,
            },
        )
        running = RayTestCluster(cluster)
        try:
            running.restore()
            yield running
        finally:
            ray.shutdown()
            cluster.shutdown()


@pytest.fixture
def ray_namespace(ray_cluster: RayTestCluster) -> Iterator[str]:
    """A namespace of its own for one test; its actors are killed after it."""
    namespace = f"modelmart-test-{uuid.uuid4().hex[:8]}"
    yield namespace
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] == namespace:
            ray.kill(ray.get_actor(actor["name"], namespace=namespace), no_restart=True)


@pytest.fixture
def cluster_settings(tmp_path: Path, ray_cluster: RayTestCluster, ray_namespace: str) -> Settings:
    """Settings of a server placing its instances on the test cluster; two servers made
    from them share one database, one artifact store and the cluster's actors."""
    return Settings(
        data_dir=tmp_path / "data",
        json_logs=False,
        placement="ray",
        ray_address=ray_cluster.address,
        ray_namespace=ray_namespace,
    )
