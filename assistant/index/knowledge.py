"""The knowledge index as the tools and the service see it: search, chunk lookup and indexing.

It answers from one committed generation at a time (a ``Snapshot``: BM25 plus the member set the
dense side is filtered by) and follows the published head: ``refresh()``, called by the service
at the start of every request, switches to a generation that another process — a CLI
``linkage index``, another replica's indexer — has committed since. A damaged data file or an
unreachable Chroma server becomes one clear error naming it, never a traceback.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistant.errors import IndexDamagedError, IndexNotReadyError
from assistant.index.embeddings import Embedder, TextVectors, embedder_id, make_embedder
from assistant.index.fusion import reciprocal_rank_fusion
from assistant.index.indexer import Indexer, IndexReport, Progress, store_error
from assistant.index.dictionary import chinese_words
from assistant.index.lexical import LexicalIndex, unglossed
from assistant.index.rerankers import make_reranker, reranking
from assistant.index.retrievers import ChunkCache, DenseRetriever, LexicalRetriever, Query, VectorCache
from assistant.index.store import ChunkStore, Head, Hit, access_filter, is_member, to_hit, visible
from assistant.index.vocabulary import Vocabulary, is_english_word, is_word
from assistant.ingest.models import Chunk
from assistant.settings import Settings

T = TypeVar("T")
log = logging.getLogger("assistant.index")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# a standard's number alone ("按33450", "20003.1里"), not part of a code, a decimal or a date
_BARE_STANDARD_NUMBER = re.compile(r"(?<![A-Za-z0-9./\-])\d{4,5}(?:\.\d{1,2})?(?![A-Za-z0-9.%％/\-])")
_STANDARD_NAMED = re.compile(r"(?:GB/T|GB/Z|GB|T/[A-Z]+|[A-Z]{2}/[TZ])\s*\d+(?:\.\d+)*", re.IGNORECASE)
_CODE_TOKEN = re.compile(r"(gb/[tz]|gb|t/[a-z]+|[a-z]{2}/[tz])(\d{4,5}(?:\.\d{1,2})?)")


def _display_code(token: str) -> str:
    """"gb/t33450" as a standard is written: "GB/T 33450"."""
    code = _CODE_TOKEN.fullmatch(token)
    return f"{code.group(1).upper()} {code.group(2)}"


@dataclass(frozen=True)
class Snapshot:
    """One committed generation, as read by this process."""

    head: Head
    lexical: LexicalRetriever | None = None  # None: nothing indexed yet
    dense: DenseRetriever | None = None
    stamp: tuple | None = None  # the store's publish stamp when this generation was checked

    def members(self) -> LexicalIndex:
        if self.lexical is None:
            raise IndexNotReadyError("知识库尚未建立索引：请先运行 `linkage index`")
        return self.lexical.index


class KnowledgeIndex:
    """Dense + lexical index over clause chunks, stored in ``settings.data_dir`` or a Chroma server."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self._embedder = embedder
        self.space = embedder.id if embedder else embedder_id(settings)
        self.directory = settings.data_dir / "index" / self.space
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = ChunkStore(settings, self.space)
        self.indexer = Indexer(settings, self.store, lambda: self.embedder, self.directory)
        self._vectors = VectorCache(lambda text: self.embedder.embed_query(text), settings.query_cache_size)
        self._chunks = ChunkCache()
        self._snapshot: Snapshot | None = None
        self._loading = threading.Lock()
        self._reranker = None
        self._words = TextVectors(self.directory / "word-vectors.sqlite3", limit=50000)
        self.sentence_vectors = TextVectors(self.directory / "sentence-vectors.sqlite3", limit=20000)
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_lock = threading.Lock()
        self._visible_cache: dict[tuple, np.ndarray] = {}
        self._found: dict[tuple, list[tuple[int, str, str, dict]]] = {}  # find()'s rows per generation
        self._codes: tuple[int, dict[str, tuple[str, ...]]] | None = None  # (generation, standard codes by number)

    def query_vector(self, text: str) -> np.ndarray:
        """The query's vector, shared with search: a question embedded for retrieval is not embedded again."""
        return self._vectors(text)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    # ----- following the published generation -----
    def refresh(self) -> int:
        """Switch to the latest committed generation (loading it if another process made it); returns it."""
        stamp = self.store.stamp()
        current = self._snapshot
        if current is not None and stamp is not None and current.stamp == stamp:
            return current.head.generation  # nothing published since (a stat, not a database read)
        head = self._guard(self.store.head)
        if current is not None and current.head == head:
            self._snapshot = replace(current, stamp=stamp)
        # One thread loads; the others keep answering from the previous generation meanwhile.
        elif self._loading.acquire(blocking=current is None):
            try:
                if self._snapshot is None or self._snapshot.head != head:
                    self._snapshot = replace(self._load(head, reopen=self._snapshot is not None), stamp=stamp)
            finally:
                self._loading.release()
        return self._snapshot.head.generation

    @property
    def head(self) -> Head:
        """The generation (and its collection) this process answers from."""
        return self._current().head

    @property
    def generation(self) -> int:
        return self.head.generation

    def _current(self) -> Snapshot:
        if self._snapshot is None:
            self.refresh()
        return self._snapshot

    def _load(self, head: Head, reopen: bool) -> Snapshot:
        if reopen:
            self.store.reopen()
        lexical = None
        if not self.store.remote:
            saved = LexicalIndex.load(self.indexer.lexical_dir)
            if saved is not None and saved.generation == head.generation:
                lexical = saved
        if lexical is None:  # a Chroma server's replicas, or BM25 files an interrupted run did not finish
            stored = self._guard(lambda: self.store.metadatas(head.collection))
            members = {i: m for i, m in stored.items() if is_member(m, head.generation)}
            if members or head.generation > 0:
                lexical = Indexer.build_lexical(members, head.generation)
        if lexical is None:
            return Snapshot(head)
        retriever = LexicalRetriever(lexical)
        return Snapshot(head, retriever, DenseRetriever(self.store, head.collection, retriever))

    def _guard(self, read: Callable[[], T]) -> T:
        """Run a Chroma read; after a failure, reconnect once, then name the store and the repair."""
        try:
            return read()
        except Exception as exc:
            if not store_error(exc):
                raise
        try:
            self.store.reopen()
            return read()
        except Exception as exc:
            if not store_error(exc):
                raise
            raise self._store_failure(exc) from None

    def _store_failure(self, exc: Exception) -> IndexNotReadyError:
        log.info("Chroma store %s failed: %s", self.store.location, exc)  # detail for a configured log, not for users
        if self.store.remote:
            return IndexNotReadyError(f"无法访问向量库服务器 {self.settings.chroma_url}，请检查它是否在运行。")
        return IndexDamagedError(self.store.location, "向量库文件无法读取")

    # ----- indexing -----
    def sync(
        self, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None, repair: bool = False
    ) -> IndexReport:
        """Bring the index up to date with the shipped corpus, the given paths and earlier roots."""
        try:
            report = self.indexer.sync(paths, rebuild=rebuild, repair=repair, progress=progress)
        except Exception as exc:
            if not store_error(exc):
                raise
            raise self._store_failure(exc) from None
        self.refresh()
        self.vocabulary(progress)
        return report

    def indexed_files(self) -> list[Path]:
        """Every file whose chunks the index holds (the record tools read records from them)."""
        return self.indexer.indexed_files()

    def add_embedded(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Store chunks whose vectors are already known (benchmarks); ``commit`` makes them searchable.

        They belong to no indexed file, so the next ``sync`` removes them.
        """
        head = self.store.head()
        self.indexer.store_embedded(head.collection, chunks, vectors, head.generation + 1)

    def commit(self) -> None:
        """Publish what ``add_embedded`` stored as a new generation."""
        self.indexer.publish_stored()
        self.refresh()

    # ----- querying -----
    def count(self) -> int:
        """Chunks in the current generation."""
        snapshot = self._current()
        return len(snapshot.lexical.index) if snapshot.lexical else 0

    def visible_count(self, groups: list[str] | None = None) -> int:
        """Chunks of the current generation that ``groups`` may see (``None``: all)."""
        snapshot = self._current()
        if snapshot.lexical is None:
            return 0
        allowed = snapshot.lexical.allowed(groups)
        return len(snapshot.lexical.index) if allowed is None else int(np.count_nonzero(allowed))

    def lexical(self, query: str, n: int, groups: list[str] | None = None, source: str | None = None) -> list[tuple[str, float]]:
        """(id, BM25 score) of the best lexical matches the user may see."""
        snapshot = self._current()
        if snapshot.lexical is None:
            return []
        prepared = self._expanded(snapshot, Query.prepare(query, self.settings, self._vectors), groups)
        return snapshot.lexical.search(prepared, n, groups, source)

    # ----- the corpus's own words for the asker's -----
    def vocabulary(self, progress: Progress | None = None) -> Vocabulary | None:
        """The current generation's content words with their vectors (built once per generation:
        at indexing time, or by the first question a process answers from a generation it did not index)."""
        snapshot = self._current()
        if snapshot.lexical is None:
            return None
        lexical = snapshot.lexical.index
        with self._vocabulary_lock:
            if self._vocabulary is None or self._vocabulary.generation != lexical.generation:
                user_dict = self.settings.terms_path
                self._vocabulary = Vocabulary.build(lexical, self._words, self.embedder, user_dict, progress)
            return self._vocabulary

    def near_words(self, tokens: list[str], groups: list[str] | None = None, english: bool = False) -> dict[str, tuple[str, ...]]:
        """For each Chinese word no chunk the asker may see uses, the visible corpus words closest to it in
        meaning ("打算" → "计划"). Only words of the language (jieba's dictionary or the domain terms):
        jieba's search mode also yields character pairs across two words ("费花" in "设备费花了"),
        whose vectors mean nothing. ``english``: English content words too ("liquid-cooled" → 液冷);
        not for search expansion, where their misses ("itself" → 自有) cost more than their finds (dev split)."""
        snapshot = self._current()
        vocabulary = self.vocabulary()
        if snapshot.lexical is None or vocabulary is None:
            return {}
        allowed = snapshot.lexical.allowed(groups)
        user_dict = self.settings.terms_path
        unknown = [
            t for t in dict.fromkeys(tokens)
            if (is_word(t, user_dict) or (english and is_english_word(t)))
            and snapshot.lexical.document_frequency(t, groups) == 0
        ]
        if not unknown:
            return {}
        return vocabulary.near(self._words.get(unknown, self.embedder), self._visible_words(vocabulary, allowed, groups))

    def dictionary_words(self, text: str, groups: list[str] | None = None) -> list[str]:
        """Chinese words for an English question's words beyond the glossary (CC-CEDICT read backwards:
        "perception fusion algorithm" → 感知, 融合, 算法), those that a chunk the asker may see uses."""
        snapshot = self._current()
        if snapshot.lexical is None or _CJK.search(text) or not re.search(r"[A-Za-z]{3}", text):
            return []
        return chinese_words(unglossed(text, self.settings.glossary_path), lambda word: snapshot.lexical.document_frequency(word, groups) > 0)

    def spelled_standards(self, text: str, groups: list[str] | None = None) -> str:
        """The text with a standard named by its bare number ("按33450", "20003.1里") written out as
        the one visible standard that carries it ("按GB/T 33450"), so search and relevance see it."""
        snapshot = self._current()
        if snapshot.lexical is None or not _BARE_STANDARD_NUMBER.search(text):
            return text
        codes = self._standard_codes(snapshot)
        named = [(m.start(), m.end()) for m in _STANDARD_NAMED.finditer(text)]

        def spelled(match: re.Match) -> str:
            if any(start <= match.start() < end for start, end in named):
                return match.group(0)
            held = [c for c in codes.get(match.group(0), ()) if snapshot.lexical.document_frequency(c, groups) > 0]
            return _display_code(held[0]) if len(held) == 1 else match.group(0)

        return _BARE_STANDARD_NUMBER.sub(spelled, text)

    def _standard_codes(self, snapshot: Snapshot) -> dict[str, tuple[str, ...]]:
        """Standard-code tokens of the vocabulary by their number ("33450": ("gb/t33450",)), per generation."""
        generation = snapshot.lexical.index.generation
        if self._codes is None or self._codes[0] != generation:
            found: dict[str, list[str]] = {}
            for token in snapshot.lexical.index.vocabulary():
                if code := _CODE_TOKEN.fullmatch(token):
                    found.setdefault(code.group(2), []).append(token)
            self._codes = (generation, {number: tuple(tokens) for number, tokens in found.items()})
        return self._codes[1]

    def _visible_words(self, vocabulary: Vocabulary, allowed: np.ndarray | None, groups: list[str] | None) -> np.ndarray:
        key = (vocabulary.generation, None if groups is None else tuple(sorted(groups)))
        cached = self._visible_cache.get(key)
        if cached is None:
            cached = vocabulary.visible(allowed)
            if len(self._visible_cache) > 64:
                self._visible_cache.clear()
            self._visible_cache[key] = cached
        return cached

    def _expanded(self, snapshot: Snapshot, query: Query, groups: list[str] | None) -> Query:
        """The query with the visible corpus's own words for the words it uses and the corpus does not."""
        near = self.near_words(query.tokens, groups)
        extra = [w for words in near.values() for w in words if w not in query.tokens]
        extra += [w for w in self.dictionary_words(query.text, groups) if w not in query.tokens]
        return replace(query, tokens=[*query.tokens, *dict.fromkeys(extra)]) if extra else query

    def document_frequency(self, token: str, groups: list[str] | None = None) -> int:
        """Chunks (that ``groups`` may see; ``None``: all) using ``token``, from the BM25 inverted index."""
        snapshot = self._current()
        return snapshot.lexical.document_frequency(token, groups) if snapshot.lexical else 0

    def search(
        self,
        query: str,
        k: int = 5,
        source: str | None = None,
        groups: list[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Best ``k`` chunks for the query. ``groups=None`` sees every record (local administrator)."""
        snapshot = self._current()
        snapshot.members()  # fail early with a clear message when nothing was indexed
        prepared = Query.prepare(query, self.settings, self._vectors)
        pool = max(self.settings.candidate_pool, k)
        dense = self._guard(lambda: snapshot.dense.search(prepared, pool, groups, source)) if mode in ("hybrid", "dense") else []
        lexical = snapshot.lexical.search(self._expanded(snapshot, prepared, groups), pool, groups, source) if mode in ("hybrid", "bm25") else []
        fused = reciprocal_rank_fusion(
            [(self.settings.dense_weight, dense), (self.settings.lexical_weight, lexical)], self.settings.rrf_k
        )
        keep = max(k * 3, 10) if reranking(self.settings) else k
        scores = dict(fused)
        hits = self._get(snapshot, [chunk_id for chunk_id, _ in fused[:keep]], None)
        dense_by_id, lexical_by_id = dict(dense), dict(lexical)
        for hit in hits:
            hit.score = scores[hit.id]
            hit.dense_similarity = dense_by_id.get(hit.id)
            hit.lexical_score = lexical_by_id.get(hit.id)
        if reranking(self.settings) and hits:
            hits = self._rerank(query, hits)
        return hits[:k]

    def _rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if self._reranker is None:
            self._reranker = make_reranker(self.settings)
        scores = self._reranker.score(query, [h.text for h in hits])
        for hit, score in zip(hits, scores):
            hit.score = float(score)
        return sorted(hits, key=lambda h: h.score, reverse=True)

    def get(self, ids: list[str], groups: list[str] | None = None) -> list[Hit]:
        """Chunks by id, in the order given; with ``groups``, only those the user may see."""
        return self._get(self._current(), ids, groups)

    def _get(self, snapshot: Snapshot, ids: list[str], groups: list[str] | None) -> list[Hit]:
        if not ids or snapshot.lexical is None:
            return []
        members = snapshot.lexical.index
        wanted = [i for i in dict.fromkeys(ids) if i in members]
        stored = self._chunks.get_many(wanted)
        missing = [i for i in wanted if i not in stored]
        if missing:
            data = self._guard(lambda: self.store.get(snapshot.head.collection, ids=missing))
            fetched = dict(zip(data["ids"], zip(data["documents"], data["metadatas"])))
            self._chunks.put_many(fetched)
            stored.update(fetched)
        by_id = {i: to_hit(i, d, m) for i, (d, m) in stored.items() if visible(m, groups, None)}
        return [by_id[i] for i in ids if i in by_id]

    def find(self, doc_id: str | None, clause_title: str | None = None, clause: str | None = None, groups: list[str] | None = None) -> list[Hit]:
        """Chunks of one document (``None``: of every document), optionally one clause, in reading order, if the user may see them."""
        snapshot = self._current()
        if snapshot.lexical is None:
            return []
        key = (snapshot.head, doc_id, clause_title, clause, None if groups is None else tuple(sorted(groups)))
        rows = self._found.get(key)
        if rows is None:  # an answer asks for the same document or section again and again: ~3 ms each from Chroma
            rows = self._find_rows(snapshot, doc_id, clause_title, clause, groups)
            if len(self._found) > 256:
                self._found.clear()
            self._found[key] = rows
        return [to_hit(i, d, m) for _, i, d, m in rows]

    def _find_rows(self, snapshot: Snapshot, doc_id: str | None, clause_title: str | None, clause: str | None,
                   groups: list[str] | None) -> list[tuple[int, str, str, dict]]:
        conditions: list[dict] = [{"doc_id": doc_id}] if doc_id is not None else []
        if clause_title is not None:
            conditions.append({"clause_title": clause_title})
        if clause is not None:
            conditions.append({"clause": clause})
        access = access_filter(groups, None)
        if access:
            conditions.append(access)
        where = None if not conditions else conditions[0] if len(conditions) == 1 else {"$and": conditions}
        data = self._guard(lambda: self.store.get(snapshot.head.collection, where=where))
        members = snapshot.lexical.index
        rows = [(m["seq"], i, d, m) for i, d, m in zip(data["ids"], data["documents"], data["metadatas"]) if i in members]
        return sorted(rows, key=lambda row: row[0])
