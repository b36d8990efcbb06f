"""Lexical retrieval: jieba search-mode tokens with a domain dictionary, scored by BM25 (bm25s)."""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import threading
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bm25s
import jieba
import jieba.posseg
import numpy as np
import yaml

from assistant.errors import IndexDamagedError

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


def jieba_tokenizer(user_dict: str) -> jieba.Tokenizer:
    """One tokenizer per dictionary: concurrent first requests wait for one load (about a second
    and tens of MB each) instead of each loading its own."""
    with _TOKENIZER_LOCK:
        return _load_tokenizer(user_dict)


@lru_cache(maxsize=4)
def pos_tagger(user_dict: str) -> jieba.posseg.POSTokenizer:
    """Part-of-speech tagging (jieba.posseg) with the same dictionary as the search tokens."""
    return jieba.posseg.POSTokenizer(jieba_tokenizer(user_dict))


@lru_cache(maxsize=4)
def _load_tokenizer(user_dict: str) -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    if user_dict and Path(user_dict).exists():
        tokenizer.load_userdict(user_dict)
    return tokenizer


def tokenize(text: str, user_dict: Path | None = None) -> list[str]:
    """Search-mode tokens: overlapping jieba words, whole standard/clause numbers, no stopwords."""
    tokenizer = jieba_tokenizer(str(user_dict or ""))
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
    return [(re.compile(rf"\b{_inflected(english)}\b", re.I), chinese) for english, chinese in sorted(terms.items(), key=lambda kv: -len(kv[0]))]


def _inflected(english: str) -> str:
    """A glossary key with the usual endings of its last word: "coordinate" also matches
    "coordinated", "coordinates" and "coordinating"; "guide" matches "guides"."""
    if english.endswith("e"):
        return rf"{re.escape(english[:-1])}(?:e|es|ed|ing)"
    return rf"{re.escape(english)}(?:s|es|ed|ing)?"


def expand_english(query: str, glossary: Path) -> str:
    """Add the Chinese domain terms for English words, so English questions match Chinese text."""
    if not re.search(r"[A-Za-z]{3}", query):
        return query
    additions = [chinese for pattern, chinese in _glossary(str(glossary)) if pattern.search(query)]
    additions += [_DIVISIONS[kind.lower()].format(number) for kind, number in _DIVISION.findall(query)]
    return " ".join([query, *additions])


def unglossed(query: str, glossary: Path) -> str:
    """The query without the English phrases the glossary translates (their words are taken care of)."""
    for pattern, _ in _glossary(str(glossary)):
        query = pattern.sub(" ", query)
    return query


# "Part 7", "Chapter 3", "Annex A": a document's divisions as Chinese text numbers them
_DIVISION = re.compile(r"\b(part|chapter|article|clause|section|annex|appendix)\s+(\d+(?:\.\d+)*|[A-Z])\b", re.IGNORECASE)
_DIVISIONS = {"part": "第{}部分", "chapter": "第{}章", "article": "第{}条", "clause": "{}", "section": "{}", "annex": "附录{}", "appendix": "附录{}"}


@dataclass(frozen=True)
class Visibility:
    """BM25's collection statistics over the chunks one user may see, so that words in records the
    user cannot see move no score: the rows, how many, and each row's length normalisation."""

    mask: np.ndarray  # 0/1 over rows
    count: int
    norm: np.ndarray  # k1 * (1 - b + b * length / average visible length), per row


class LexicalIndex:
    """BM25 over pre-tokenised chunks of one index generation; ``ids`` and ``rows`` align with its rows.

    ``rows`` holds what access filtering needs per chunk: its source and its record groups. Beside
    bm25s's eager scores (statistics of the whole index) it keeps each posting's term count and each
    row's length, to score within a user's ``Visibility``.
    """

    def __init__(self, ids: list[str], tokens: list[list[str]], rows: list[dict], generation: int = 0):
        self.ids = ids
        self.rows = rows
        self.generation = generation
        self._row = {chunk_id: i for i, chunk_id in enumerate(ids)}
        self._bm25 = bm25s.BM25()
        self._counts = np.zeros(0, dtype=np.float32)
        self._lengths = np.array([len(t) for t in tokens], dtype=np.int32)
        if ids:
            self._bm25.index(tokens, show_progress=False)
            self._counts = self._term_counts(tokens)

    def _term_counts(self, tokens: list[list[str]]) -> np.ndarray:
        """Term count of every posting, in the order of bm25s's columns (token, then row)."""
        vocab = self._bm25.vocab_dict
        columns = np.fromiter((vocab[t] for doc in tokens for t in doc), dtype=np.int64)
        rows = np.repeat(np.arange(len(tokens), dtype=np.int64), self._lengths)
        _, counts = np.unique(columns * len(tokens) + rows, return_counts=True)
        return counts.astype(np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, chunk_id: str) -> bool:
        return chunk_id in self._row

    def visibility(self, mask: np.ndarray) -> Visibility | None:
        """Statistics within ``mask``; ``None`` when it holds every row (bm25s's own scores then apply)."""
        count = int(np.count_nonzero(mask))
        if count == len(self.ids):
            return None
        average = float(np.dot(self._lengths, mask.astype(np.float64))) / max(count, 1)
        k1, b = self._bm25.k1, self._bm25.b
        return Visibility(mask, count, (k1 * (1 - b + b * self._lengths / max(average, 1e-9))).astype(np.float32))

    def search(
        self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None, within: Visibility | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` (id, score) pairs with a positive score; ``allowed`` is a 0/1 mask over rows.

        With ``within``, scores use only the statistics of the rows it makes visible.
        """
        if not self.ids or not query_tokens:
            return []
        k = min(k, len(self.ids))
        if within is None:
            docs, scores = self._bm25.retrieve([query_tokens], k=k, show_progress=False, weight_mask=allowed)
            return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
        scores = self._scores_within(query_tokens, within)
        if allowed is not None:
            scores *= allowed
        found = np.flatnonzero(scores > 0)
        if len(found) > k:
            found = found[scores[found] >= np.partition(scores[found], -k)[-k]]
        best = found[np.lexsort((found, -scores[found]))][:k]  # ties in row order: the same in any index
        return [(self.ids[int(d)], float(scores[d])) for d in best]

    def _scores_within(self, query_tokens: list[str], within: Visibility) -> np.ndarray:
        """Lucene BM25 (as bm25s scores it) with document frequencies and lengths of visible rows only."""
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        rows, weights = [], []
        for column in self._bm25.get_tokens_ids(query_tokens):
            if column + 1 >= len(indptr):
                continue  # bm25s's empty token has no postings
            start, end = indptr[column], indptr[column + 1]
            posting = indices[start:end]
            seen = within.mask[posting]
            df = int(np.count_nonzero(seen))
            if df == 0:
                continue
            idf = math.log(1 + (within.count - df + 0.5) / (df + 0.5))
            tf = self._counts[start:end]
            rows.append(posting)
            weights.append(seen * idf * tf / (tf + within.norm[posting]))
        if not rows:
            return np.zeros(len(self.ids))
        return np.bincount(np.concatenate(rows), np.concatenate(weights), minlength=len(self.ids))

    def document_frequency(self, token: str, allowed: np.ndarray | None = None) -> int:
        """How many chunks use ``token`` (only rows where ``allowed`` is non-zero, when given).

        Read from the inverted index (the token's column of the BM25 score matrix), not by searching.
        """
        column = self._bm25.vocab_dict.get(token) if self.ids else None
        if column is None:
            return 0
        indptr = self._bm25.scores["indptr"]
        rows = self._bm25.scores["indices"][indptr[column] : indptr[column + 1]]
        return int(len(rows) if allowed is None else np.count_nonzero(allowed[rows]))

    def vocabulary(self) -> list[str]:
        """Every token some chunk of this generation uses."""
        return [t for t in self._bm25.vocab_dict if t] if self.ids else []

    def columns(self, tokens: list[str]) -> np.ndarray:
        """The inverted-index column of each token (all of them in the vocabulary)."""
        return np.array([self._bm25.vocab_dict[t] for t in tokens], dtype=np.int64)

    def column_frequencies(self, columns: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Document frequency within ``allowed`` of each column, in one pass over the postings."""
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        seen = np.concatenate([[0], np.cumsum(allowed[indices] > 0)])
        return seen[indptr[columns + 1]] - seen[indptr[columns]]

    def row(self, chunk_id: str) -> int:
        return self._row[chunk_id]

    def save(self, directory: Path) -> None:
        """Write to ``directory`` atomically: a reader or a crash sees the old files or the new, never a mix."""
        staging = directory.with_name(directory.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self.ids:
            self._bm25.save(str(staging))
        np.savez(staging / "counts.npz", counts=self._counts, lengths=self._lengths)
        (staging / "ids.json").write_text(json.dumps({"generation": self.generation, "ids": self.ids, "rows": self.rows}, ensure_ascii=False), encoding="utf-8")
        retired = directory.with_name(directory.name + ".old")
        shutil.rmtree(retired, ignore_errors=True)
        if directory.exists():
            directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex | None":
        """The saved index, ``None`` when there is none; IndexDamagedError naming the file that is unreadable."""
        ids_file, counts_file = directory / "ids.json", directory / "counts.npz"
        if not ids_file.exists() or not counts_file.exists():
            return None  # none yet, or written before term counts were kept: to be rebuilt
        try:
            saved = json.loads(ids_file.read_text(encoding="utf-8"))
            if isinstance(saved, list):
                return None  # written before generations existed: to be rebuilt, not damaged
            ids, rows, generation = list(saved["ids"]), list(saved["rows"]), int(saved["generation"])
            if len(rows) != len(ids):
                raise ValueError("rows")
        except (ValueError, KeyError, TypeError):
            raise IndexDamagedError(ids_file, "无法解析，文件可能被截断") from None
        index = cls.__new__(cls)
        index.ids, index.rows, index.generation = ids, rows, generation
        index._row = {chunk_id: i for i, chunk_id in enumerate(ids)}
        try:
            index._bm25 = bm25s.BM25.load(str(directory)) if ids else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            raise IndexDamagedError(directory, "BM25 文件无法读取") from None
        if ids and index._bm25.scores.get("num_docs") != len(ids):
            raise IndexDamagedError(directory, "BM25 文件与 ids.json 不一致")
        try:
            with np.load(counts_file) as saved_counts:
                index._counts, index._lengths = saved_counts["counts"], saved_counts["lengths"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            raise IndexDamagedError(counts_file, "无法读取") from None
        if len(index._lengths) != len(ids) or (ids and len(index._counts) != len(index._bm25.scores["indices"])):
            raise IndexDamagedError(counts_file, "与 BM25 文件不一致")
        return index
