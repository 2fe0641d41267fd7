"""Admission by KV-cache cells: a sequence runs only once the cells its prompt and answer
may take are reserved, so a decode never finds the cache full halfway through an answer.

A request with ``max_tokens`` reserves prompt + max_tokens; one without reserves prompt +
``reserve`` and extends that reserve as it goes, finishing with ``length`` when the cache
has no room left for it. Counting is conservative: cells shared by several sequences
(a common prefix) are counted once per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KvBudget:
    capacity: int
    reserved: int = 0

    def room(self, cached: int) -> int:
        """Cells neither reserved nor held by ``cached`` prefix-cache cells."""
        return self.capacity - self.reserved - cached

    def reserve(self, cells: int) -> None:
        self.reserved += cells

    def release(self, cells: int) -> None:
        self.reserved -= cells
