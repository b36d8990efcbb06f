"""Reciprocal-rank fusion of ranked lists: a pure function, so it is tested and tuned on its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def reciprocal_rank_fusion(rankings: Iterable[tuple[float, Sequence[tuple[str, float]]]], k: int) -> list[tuple[str, float]]:
    """(id, fused score) best first, from ``(weight, [(id, score), …])`` rankings.

    Only ranks count (BM25 scores and cosines are not comparable); a small ``k`` favours agreement
    at the top ranks. Ties keep the order in which ids were first seen.
    """
    fused: dict[str, float] = {}
    for weight, ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank + 1)
    return sorted(fused.items(), key=lambda pair: pair[1], reverse=True)
