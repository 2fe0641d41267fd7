"""Keeping the garbage collector off the request path.

Loading frameworks and models (torch, transformers, a model inspected at upload) leaves the
server with hundreds of thousands of long-lived objects; every full collection then walks them
all and stops the event loop for hundreds of milliseconds. Freezing moves what exists now out
of the collector's sight, so collections only look at objects made since. The cost: frozen
garbage is never freed, which is why this runs only after start-up and after work that grows
the heap for good (registering a version, deploying).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what is garbage now, then freeze the survivors."""
    gc.collect()
    gc.freeze()
