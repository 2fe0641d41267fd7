"""Names of instance actors: the same deployment and spec give the same names on every server.

A name is the deployment, the served version, a digest of what the instance loads (its
generation: a retune of the parameters gives new names) and a slot number. Two servers that
start the same deployment claim the same slots in the same order, so they attach to the same
actors instead of starting them twice.
"""

from __future__ import annotations

import hashlib
import json
import re

from modelmart.serving.placement import ServedVersion

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def generation(target: ServedVersion) -> str:
    """What the instance loads, as a short digest; the artifact's local path is left out, as
    it differs between servers while the model version does not."""
    load = target.load
    described = {
        "model": target.model,
        "version": target.version,
        "runtime": target.runtime.value,
        "format": load.format.value,
        "task": load.task.value,
        "parameters": {key: repr(value) for key, value in sorted(load.parameters.items())},
    }
    encoded = json.dumps(described, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:12]


def actor_name(deployment: str, target: ServedVersion, slot: int) -> str:
    safe = _UNSAFE.sub("_", deployment)
    return f"{safe}.v{target.version}.{generation(target)}.{slot}"


class SlotNumbers:
    """The slots one endpoint holds, per generation: each new instance takes the lowest free
    slot, so a replacement takes the place (and the name) of the instance it replaces."""

    def __init__(self) -> None:
        self._taken: dict[str, set[int]] = {}

    def claim(self, generation_key: str) -> int:
        taken = self._taken.setdefault(generation_key, set())
        slot = next(n for n in range(len(taken) + 1) if n not in taken)
        taken.add(slot)
        return slot

    def release(self, generation_key: str, slot: int) -> None:
        self._taken.get(generation_key, set()).discard(slot)
