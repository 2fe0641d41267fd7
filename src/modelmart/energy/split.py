"""Sharing a batch's energy among its requests."""

from __future__ import annotations

from collections.abc import Sequence


def split_microjoules(total_uj: int, shares: Sequence[int]) -> list[int]:
    """``total_uj`` divided in proportion to ``shares`` (rows or tokens), in whole microjoules
    that add up to ``total_uj`` exactly: each gets its rounded-down part, and what rounding
    left goes one microjoule at a time to the largest remainders (the earliest on a tie).
    Requests with no share at all split the batch equally."""
    if total_uj < 0 or any(share < 0 for share in shares):
        raise ValueError(f"cannot split {total_uj} uJ by shares {list(shares)}")
    if not shares:
        return []
    weights = list(shares) if sum(shares) > 0 else [1] * len(shares)
    whole = sum(weights)
    parts = [total_uj * weight // whole for weight in weights]
    remainders = [total_uj * weight % whole for weight in weights]
    left = total_uj - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for index in order[:left]:
        parts[index] += 1
    return parts
