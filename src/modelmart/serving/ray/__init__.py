"""Model instances on a Ray cluster (``MODELMART_PLACEMENT=ray``); see docs/cluster.md.

Importing this package imports Ray (the ``cluster`` extra); the server does so only when the
settings ask for it.
"""

from __future__ import annotations

from modelmart.config import Settings
from modelmart.energy.meters import EnergySetup
from modelmart.serving.batcher import Admission
from modelmart.serving.placement import BatchObserver, Placement
from modelmart.serving.ray.cluster import ActorResources, RayCluster, connect
from modelmart.serving.ray.placement import RayEndpoint, RayPlacement

__all__ = ["RayCluster", "RayEndpoint", "RayPlacement", "ray_placement"]


def ray_placement(
    settings: Settings,
    local: Placement,
    observer: BatchObserver | None = None,
    admission: Admission | None = None,
    energy: EnergySetup | None = None,
) -> RayPlacement:
    """Connect to the cluster ``settings`` name and place instances there; chat models go to
    ``local``."""
    connect(settings)
    resources = ActorResources(settings.ray_instance_cpus, settings.ray_instance_memory_mb)
    cluster = RayCluster(settings.ray_namespace, resources, energy)
    return RayPlacement(cluster, local, observer, admission)
