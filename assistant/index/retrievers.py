"""The two retrievers over one index generation, and the query they share.

A ``Query`` is prepared once per search: English terms expanded once (BM25 would otherwise count
them twice), tokenised once, embedded at most once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from threading import Lock

import numpy as np

from assistant.index.lexical import LexicalIndex, Visibility, expand_english, tokenize
from assistant.index.store import ChunkStore, access_filter, visible
from assistant.settings import Settings


@dataclass
class Query:
    """What both retrievers need from one question."""

    text: str
    expanded: str  # the text plus the Chinese domain terms of its English words
    tokens: list[str]
    _embed: Callable[[str], np.ndarray] = field(repr=False)
    _vector: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def prepare(cls, text: str, settings: Settings, embed: Callable[[str], np.ndarray]) -> "Query":
        expanded = expand_english(text, settings.glossary_path)
        return cls(text, expanded, tokenize(expanded, settings.terms_path), embed)

    @property
    def vector(self) -> np.ndarray:
        if self._vector is None:
            self._vector = self._embed(self.expanded)
        return self._vector


class VectorCache:
    """Recent query vectors: a question asked again (or searched twice in one answer) is embedded once."""

    def __init__(self, embed: Callable[[str], np.ndarray], size: int = 1024):
        self._embed = embed
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def __call__(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._vectors:
                self._vectors.move_to_end(text)
                return self._vectors[text]
        vector = self._embed(text)
        if not self._size:  # off: every question embedded (the load script measures new questions so)
            return vector
        with self._lock:
            self._vectors[text] = vector
            if len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return vector


class ChunkCache:
    """Text and metadata of recently read chunks. Safe across generations: a chunk id is a hash of its
    content and metadata, so an id always names the same chunk (membership is checked apart)."""

    def __init__(self, size: int = 20000):
        self._size = size
        self._items: OrderedDict[str, tuple[str, dict]] = OrderedDict()
        self._lock = Lock()

    def get_many(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        with self._lock:
            found = {i: self._items[i] for i in ids if i in self._items}
            for i in found:
                self._items.move_to_end(i)
        return found

    def put_many(self, items: dict[str, tuple[str, dict]]) -> None:
        with self._lock:
            self._items.update(items)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class DenseRetriever:
    """Nearest chunks by cosine in Chroma, restricted to one generation's members and the user's access."""

    def __init__(self, store: ChunkStore, collection: str, lexical: "LexicalRetriever"):
        self._store = store
        self._collection = collection
        self._lexical = lexical

    def search(self, query: Query, n: int, groups: list[str] | None = None, source: str | None = None) -> list[tuple[str, float]]:
        members = self._lexical.index
        total = len(members)
        if total == 0:
            return []
        allowed = self._lexical.allowed(groups, source)
        visible_share = 1.0 if allowed is None else float(np.count_nonzero(allowed)) / total
        if visible_share >= 0.5:
            # A filtered Chroma query costs several times an unfiltered one: over-fetch, then filter here.
            fetch = min(total, int(n / visible_share) + n)
            ranked = self._store.query(self._collection, query.vector, fetch, None)
            kept = [(i, s) for i, s in ranked if i in members and (allowed is None or allowed[members.row(i)])]
            if len(kept) >= min(n, int(total * visible_share)) or fetch >= total:
                return kept[:n]
        ranked = self._store.query(self._collection, query.vector, min(n, total), access_filter(groups, source))
        # Chunks an indexer is writing (or has just retired) are not part of this generation.
        return [(chunk_id, score) for chunk_id, score in ranked if chunk_id in members]


class LexicalRetriever:
    """BM25 over one generation, with per-user row masks and BM25 statistics within what the user may
    see (cached: they depend only on groups and source, and the retriever lives one generation)."""

    def __init__(self, lexical: LexicalIndex):
        self.index = lexical

        @lru_cache(maxsize=64)
        def mask(groups: tuple[str, ...] | None, source: str | None) -> np.ndarray:
            wanted = list(groups) if groups is not None else None
            return np.array([1.0 if visible(row, wanted, source) else 0.0 for row in lexical.rows], dtype=np.float32)

        @lru_cache(maxsize=64)
        def within(groups: tuple[str, ...]) -> Visibility | None:
            return lexical.visibility(mask(groups, None))

        self._mask = mask
        self._within = within

    def allowed(self, groups: list[str] | None, source: str | None = None) -> np.ndarray | None:
        if groups is None and not source:
            return None
        return self._mask(tuple(sorted(groups)) if groups is not None else None, source)

    def search(self, query: Query, n: int, groups: list[str] | None = None, source: str | None = None) -> list[tuple[str, float]]:
        within = None if groups is None else self._within(tuple(sorted(groups)))
        return self.index.search(query.tokens, n, self.allowed(groups, source), within)

    def document_frequency(self, token: str, groups: list[str] | None = None) -> int:
        return self.index.document_frequency(token, self.allowed(groups))
