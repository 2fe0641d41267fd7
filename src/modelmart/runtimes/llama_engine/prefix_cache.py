"""The KV cells of finished sequences, kept so a new prompt that starts the same way (the
same system prompt, the earlier turns of a chat) does not evaluate that start again.

Each entry is a sequence id of the llama.cpp context that still holds its cells, with the
tokens they encode. Entries are evicted least recently used first, whenever a running
sequence needs their cells or their sequence id.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence


def common_prefix(left: Sequence[int], right: Sequence[int]) -> int:
    """How many leading tokens ``left`` and ``right`` share."""
    size = min(len(left), len(right))
    for index in range(size):
        if left[index] != right[index]:
            return index
    return size


class PrefixCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[int, list[int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_tokens(self) -> int:
        """Cells the entries hold (counting cells they share with others more than once)."""
        return sum(len(tokens) for tokens in self._entries.values())

    def best_match(
        self, prompt: Sequence[int], running: Iterable[tuple[int, Sequence[int]]] = ()
    ) -> tuple[int, int]:
        """(sequence id, shared tokens) of the entry, or running sequence, that shares the
        longest start with ``prompt``; (-1, 0) when none shares any."""
        best_id, best_length = -1, 0
        candidates = [*self._entries.items(), *running]
        for seq_id, tokens in candidates:
            length = common_prefix(prompt, tokens)
            if length > best_length:
                best_id, best_length = seq_id, length
        if best_id in self._entries:
            self._entries.move_to_end(best_id)  # used: the last to be evicted
        return best_id, best_length

    def add(self, seq_id: int, tokens: list[int]) -> None:
        """Keep ``seq_id``'s cells. An older entry
        that ``tokens`` continue is useless, but freeing its cells now would leave holes that
        llama.cpp fills with the next tokens of running sequences, out of their position
        order, which changes their logits (see the package docstring); it goes when least
        recently used, like any other."""
        self._entries[seq_id] = tokens

    def evict_oldest(self, keep: int = -1) -> int | None:
        """The id of the least recently used entry other than ``keep``, now out of the
        cache; None if there is none."""
        seq_id = next((held for held in self._entries if held != keep), None)
        if seq_id is not None:
            del self._entries[seq_id]
        return seq_id

    def clear(self) -> list[int]:
        ids = list(self._entries)
        self._entries.clear()
        return ids
