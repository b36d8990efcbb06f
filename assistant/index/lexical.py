"""Lexical retrieval: jieba search-mode tokens with a domain dictionary, scored by BM25 (bm25s)."""

from __future__ import annotations

import json
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

import bm25s
import jieba
import numpy as np
import yaml

jieba.setLogLevel(logging.WARNING)

# Standard numbers, clause numbers and Latin words stay whole tokens instead of being cut by jieba.
_WHOLE_TOKEN = re.compile(
    r"(?:GB/T|GB/Z|T/[A-Z]+|[A-Z]{2}/T)\s*\d+(?:\.\d+)*|\d+(?:\.\d+)+|附录\s*[A-Z]|[A-Za-z][A-Za-z0-9\-]+"
)
_STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 等 对 为 中 把 被 有 就 都 也 要 会 能 可 请 吗 呢 吧 啊 么 什么 哪些 哪 如何 怎么 怎样 "
    "这 那 其 之 以 于 由 从 a an the of to and or in on for is are what which how does do".split()
)


_TOKENIZER_LOCK = threading.Lock()


def _tokenizer(user_dict: str) -> jieba.Tokenizer:
    """One tokenizer per dictionary: concurrent first requests wait for one load (about a second
    and tens of MB each) instead of each loading its own."""
    with _TOKENIZER_LOCK:
        return _load_tokenizer(user_dict)


@lru_cache(maxsize=4)
def _load_tokenizer(user_dict: str) -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    if user_dict and Path(user_dict).exists():
        tokenizer.load_userdict(user_dict)
    return tokenizer


def tokenize(text: str, user_dict: Path | None = None) -> list[str]:
    """Search-mode tokens: overlapping jieba words, whole standard/clause numbers, no stopwords."""
    tokenizer = _tokenizer(str(user_dict or ""))
    tokens: list[str] = []
    position = 0
    for m in _WHOLE_TOKEN.finditer(text):
        tokens.extend(tokenizer.lcut_for_search(text[position : m.start()]))
        tokens.append(re.sub(r"\s+", "", m.group(0)).lower())
        position = m.end()
    tokens.extend(tokenizer.lcut_for_search(text[position:]))
    return [t.lower() for t in tokens if t.strip() and t.lower() not in _STOPWORDS and re.search(r"\w", t)]


@lru_cache(maxsize=4)
def _glossary(path: str) -> list[tuple[re.Pattern, str]]:
    file = Path(path)
    if not file.exists():
        return []
    terms = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    # Longest phrases first, so "licensing declaration" wins over "declaration".
    return [
        (re.compile(rf"\b{re.escape(english)}s?\b", re.I), chinese)
        for english, chinese in sorted(terms.items(), key=lambda kv: -len(kv[0]))
    ]


def expand_english(query: str, glossary: Path) -> str:
    """Add the Chinese domain terms for English words, so English questions match Chinese text."""
    if not re.search(r"[A-Za-z]{3}", query):
        return query
    additions = [chinese for pattern, chinese in _glossary(str(glossary)) if pattern.search(query)]
    return " ".join([query, *additions])


class LexicalIndex:
    """BM25 over pre-tokenised chunks; rows align with ``ids``, persisted beside the Chroma store."""

    def __init__(self, ids: list[str], tokens: list[list[str]]):
        self.ids = ids
        self._row = {chunk_id: i for i, chunk_id in enumerate(ids)}
        self._bm25 = bm25s.BM25()
        if ids:
            self._bm25.index(tokens, show_progress=False)

    def search(self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (id, score) pairs with a positive score; ``allowed`` is a 0/1 mask over rows."""
        if not self.ids or not query_tokens:
            return []
        k = min(k, len(self.ids))
        docs, scores = self._bm25.retrieve([query_tokens], k=k, show_progress=False, weight_mask=allowed)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def row(self, chunk_id: str) -> int:
        return self._row[chunk_id]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.ids:
            self._bm25.save(str(directory))
        (directory / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex | None":
        ids_file = directory / "ids.json"
        if not ids_file.exists():
            return None
        index = cls.__new__(cls)
        index.ids = json.loads(ids_file.read_text(encoding="utf-8"))
        index._row = {chunk_id: i for i, chunk_id in enumerate(index.ids)}
        index._bm25 = bm25s.BM25.load(str(directory)) if index.ids else bm25s.BM25()
        return index
