"""The knowledge index: a Chroma collection of clause chunks plus a BM25 index over the same chunks.

Indexing is incremental. A file whose bytes (and chunking settings) are unchanged is skipped; a
changed file keeps the chunks whose content id is unchanged, with their stored embeddings, and
only new chunks are embedded; files that disappeared lose their chunks. Chroma never embeds
anything itself (no default ONNX model): vectors are always passed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from assistant.errors import DocumentLoadError, IndexNotReadyError
from assistant.index.embeddings import Embedder, embedder_id, make_embedder
from assistant.index.lexical import LexicalIndex, expand_english, tokenize
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, load_file
from assistant.ingest.models import EMBEDDING_RECIPE, Chunk, format_citation
from assistant.ingest.splitter import split_document
from assistant.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

Progress = Callable[[str, int, int], None]  # (description, completed, total)
_UPSERT_BATCH = 1000
_READ_PAGE = 5000


@dataclass
class Hit:
    """One retrieved chunk with its citation data and scores."""

    id: str
    doc_id: str
    title: str
    standard: str
    clause: str
    clause_title: str
    clause_path: str
    text: str
    source: str
    cite_as: str
    page: int | None
    source_file: str
    score: float = 0.0
    dense_similarity: float | None = None
    lexical_score: float | None = None

    @property
    def citation(self) -> str:
        return format_citation(self.cite_as, self.clause, self.clause_title)

    def to_json(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "standard": self.standard,
            "clause": self.clause,
            "clause_title": self.clause_title,
            "text": self.text,
            "score": round(self.score, 6),
            "source": self.source,
            "citation": self.citation,
            "page": self.page,
        }


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    total_chunks: int = 0
    errors: list[DocumentLoadError] = field(default_factory=list)


def _metadata(chunk: Chunk, tokens: list[str]) -> dict:
    meta = {
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "source": chunk.source,
        "standard": chunk.standard,
        "year": chunk.year or 0,
        "kind": chunk.kind,
        "cite_as": chunk.cite_as,
        "access": "|".join(chunk.access),
        "clause": chunk.clause,
        "clause_title": chunk.clause_title,
        "clause_path": chunk.clause_path,
        "page": chunk.page or 0,
        "source_file": chunk.source_file,
        "seq": chunk.seq,
        "tokens": " ".join(tokens),
        "public": chunk.source != "record",
    }
    for group in chunk.access:
        meta[f"group:{group}"] = True
    return meta


def _hit(chunk_id: str, text: str, meta: dict) -> Hit:
    return Hit(
        id=chunk_id,
        doc_id=meta["doc_id"],
        title=meta["title"],
        standard=meta["standard"],
        clause=meta["clause"],
        clause_title=meta["clause_title"],
        clause_path=meta["clause_path"],
        text=text,
        source=meta["source"],
        cite_as=meta["cite_as"],
        page=meta["page"] or None,
        source_file=meta["source_file"],
    )


def _visible(meta: dict, groups: list[str] | None, source: str | None) -> bool:
    if source and meta["source"] != source:
        return False
    if groups is None or meta["source"] != "record":
        return True
    return bool(set(filter(None, meta["access"].split("|"))) & set(groups))


def _where(groups: list[str] | None, source: str | None) -> dict | None:
    clauses: list[dict] = []
    if source:
        clauses.append({"source": source})
    if groups is not None:
        allowed = [{"public": True}] + [{f"group:{g}": True} for g in groups]
        clauses.append({"$or": allowed} if len(allowed) > 1 else allowed[0])
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class KnowledgeIndex:
    """Dense + lexical index over clause chunks, stored in ``settings.data_dir``."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.settings = settings
        self._embedder = embedder
        self.space = embedder.id if embedder else embedder_id(settings)
        self.directory = settings.data_dir / "index" / self.space
        self.directory.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(settings.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        self._collection_name = "linkage-" + re.sub(r"[^a-zA-Z0-9._-]", "-", self.space)
        self._collection = self._open_collection()
        self._lexical: LexicalIndex | None = None
        self._rows: dict[str, dict] | None = None
        self._reranker = None

    # ----- plumbing -----
    def _open_collection(self):
        return self._client.get_or_create_collection(
            self._collection_name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def _state_file(self) -> Path:
        return self.directory / "state.json"

    def _load_state(self) -> dict:
        if self._state_file.exists():
            return json.loads(self._state_file.read_text(encoding="utf-8"))
        return {"roots": [], "files": {}}

    def _save_state(self, state: dict) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self._state_file)

    def count(self) -> int:
        return self._collection.count()

    # ----- indexing -----
    def _discover(self, roots: Iterable[str]) -> dict[str, dict]:
        """Files to index: the shipped corpus (as its manifest says) and every registered root."""
        files: dict[str, dict] = {}
        corpus = self.settings.corpus_dir
        manifest_file = corpus / "manifest.yaml"
        manifest = yaml.safe_load(manifest_file.read_text(encoding="utf-8")) if manifest_file.exists() else {}
        overrides = manifest.get("documents") or {}
        for folder in manifest.get("include") or []:
            for path in sorted((corpus / folder).rglob("*")):
                if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                    rel = path.relative_to(corpus).as_posix()
                    files[str(path.resolve())] = {"overrides": overrides.get(rel) or {}, "doc_id": path.stem}
        for root in roots:
            root_path = Path(root)
            candidates = [root_path] if root_path.is_file() else sorted(p for p in root_path.rglob("*") if p.is_file())
            for path in candidates:
                if path.suffix.lower() in SUPPORTED_SUFFIXES and not any(part.startswith(".") for part in path.parts[1:]):
                    key = str(path.resolve())
                    files.setdefault(key, {"overrides": {}, "doc_id": f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"})
        return files

    def _fingerprint(self, path: Path, plan: dict) -> str:
        digest = hashlib.sha256(path.read_bytes())
        knobs = (EMBEDDING_RECIPE, self.settings.chunk_max_chars, self.settings.chunk_overlap_chars, self.settings.chunk_min_chars, plan)
        digest.update(json.dumps(knobs, ensure_ascii=False, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def _chunks(self, path: Path, plan: dict) -> list[Chunk]:
        document = load_file(path, plan["doc_id"])
        for key, value in plan["overrides"].items():
            setattr(document.meta, key, value)
        return split_document(
            document, self.settings.chunk_max_chars, self.settings.chunk_overlap_chars, self.settings.chunk_min_chars
        )

    def sync(self, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the shipped corpus, the given paths and earlier roots."""
        report = IndexReport()
        if rebuild:
            self._client.delete_collection(self._collection_name)
            self._collection = self._open_collection()
            shutil.rmtree(self.directory / "lexical", ignore_errors=True)
            state = {"roots": [], "files": {}}
        else:
            state = self._load_state()
        for path in paths:
            resolved = str(Path(path).expanduser().resolve())
            if not Path(resolved).exists():
                report.errors.append(DocumentLoadError(path, "文件或目录不存在"))
            elif resolved not in state["roots"]:
                state["roots"].append(resolved)
        state["roots"] = [r for r in state["roots"] if Path(r).exists()]
        discovered = self._discover(state["roots"])

        pending: list[tuple[str, str, list[Chunk]]] = []
        for number, (key, plan) in enumerate(discovered.items()):
            if progress:
                progress("读取文档", number, len(discovered))
            path = Path(key)
            try:
                fingerprint = self._fingerprint(path, plan)
                if state["files"].get(key, {}).get("fingerprint") == fingerprint:
                    report.unchanged += 1
                    continue
                pending.append((key, fingerprint, self._chunks(path, plan)))
            except DocumentLoadError as exc:
                report.errors.append(exc)
            except OSError as exc:
                report.errors.append(DocumentLoadError(path, f"无法读取文件（{exc.strerror or exc}）"))
        if progress:
            progress("读取文档", len(discovered), len(discovered))

        # Chunks already stored (same content id) keep their vectors; only new ones are embedded.
        wanted = [chunk for _, _, chunks in pending for chunk in chunks]
        wanted_ids = list(dict.fromkeys(c.id for c in wanted))
        stored: set[str] = set()
        for i in range(0, len(wanted_ids), _UPSERT_BATCH):
            stored.update(self._collection.get(ids=wanted_ids[i : i + _UPSERT_BATCH], include=[])["ids"])
        fresh = list({c.id: c for c in wanted if c.id not in stored}.values())
        report.chunks_reused = len(set(wanted_ids) & stored)
        self._embed_and_store(fresh, progress)
        report.chunks_embedded = len(fresh)

        for key, fingerprint, chunks in pending:
            old_ids = set(state["files"].get(key, {}).get("chunk_ids", []))
            new_ids = [c.id for c in chunks]
            obsolete = list(old_ids - set(new_ids))
            if obsolete:
                self._collection.delete(ids=obsolete)
            (report.updated if key in state["files"] else report.added).append(key)
            state["files"][key] = {"fingerprint": fingerprint, "chunk_ids": new_ids}
        for key in [k for k in state["files"] if k not in discovered]:
            ids = state["files"].pop(key)["chunk_ids"]
            if ids:
                self._collection.delete(ids=ids)
            report.removed.append(key)
        self._save_state(state)
        if pending or report.removed or rebuild or not (self.directory / "lexical" / "ids.json").exists():
            self.rebuild_lexical()
        report.total_chunks = self.count()
        return report

    def _embed_and_store(self, chunks: list[Chunk], progress: Progress | None) -> None:
        step = max(1, self.settings.embedding_batch_size)
        for start in range(0, len(chunks), step):
            if progress:
                progress("生成向量", start, len(chunks))
            batch = chunks[start : start + step]
            self.add_embedded(batch, self.embedder.embed_passages([c.embedding_text() for c in batch]))
        if progress and chunks:
            progress("生成向量", len(chunks), len(chunks))

    def add_embedded(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Store chunks whose vectors are already known (call ``rebuild_lexical`` afterwards)."""
        user_dict = self.settings.corpus_dir / "terms.txt"
        for start in range(0, len(chunks), _UPSERT_BATCH):
            batch = chunks[start : start + _UPSERT_BATCH]
            self._collection.upsert(
                ids=[c.id for c in batch],
                embeddings=vectors[start : start + _UPSERT_BATCH].tolist(),
                documents=[c.text for c in batch],
                metadatas=[_metadata(c, tokenize(c.lexical_text(), user_dict)) for c in batch],
            )

    def rebuild_lexical(self) -> None:
        """Rebuild the BM25 index from the tokens stored with every chunk."""
        ids: list[str] = []
        metadatas: list[dict] = []
        total = self.count()
        for offset in range(0, total, _READ_PAGE):  # paged: one large read exceeds SQLite's variable limit
            page = self._collection.get(include=["metadatas"], limit=_READ_PAGE, offset=offset)
            ids += page["ids"]
            metadatas += page["metadatas"]
        rows = {i: {"source": m["source"], "access": m["access"]} for i, m in zip(ids, metadatas)}
        lexical = LexicalIndex(ids, [m["tokens"].split() for m in metadatas])
        directory = self.directory / "lexical"
        shutil.rmtree(directory, ignore_errors=True)
        lexical.save(directory)
        (directory / "rows.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        self._lexical, self._rows = lexical, rows

    # ----- querying -----
    def _lexical_index(self) -> tuple[LexicalIndex, dict[str, dict]]:
        if self._lexical is None:
            directory = self.directory / "lexical"
            lexical = LexicalIndex.load(directory)
            if lexical is None:
                raise IndexNotReadyError("知识库尚未建立索引：请先运行 `linkage index`")
            self._lexical = lexical
            self._rows = json.loads((directory / "rows.json").read_text(encoding="utf-8"))
        return self._lexical, self._rows

    def dense(self, query: str, n: int, groups: list[str] | None = None, source: str | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the nearest chunks the user may see."""
        total = self.count()
        if total == 0:
            return []
        vector = self.embedder.embed_query(query)
        result = self._collection.query(
            query_embeddings=[vector.tolist()], n_results=min(n, total), where=_where(groups, source), include=["distances"]
        )
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0])]

    def lexical(self, query: str, n: int, groups: list[str] | None = None, source: str | None = None) -> list[tuple[str, float]]:
        """(id, BM25 score) of the best lexical matches the user may see."""
        lexical, rows = self._lexical_index()
        mask = None
        if groups is not None or source:
            mask = np.array([1.0 if _visible(rows[i], groups, source) else 0.0 for i in lexical.ids], dtype=np.float32)
        expanded = expand_english(query, self.settings.corpus_dir / "glossary.yaml")
        return lexical.search(tokenize(expanded, self.settings.corpus_dir / "terms.txt"), n, mask)

    def search(
        self,
        query: str,
        k: int = 5,
        source: str | None = None,
        groups: list[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Best ``k`` chunks for the query. ``groups=None`` sees every record (local administrator)."""
        self._lexical_index()  # fail early with a clear message when nothing was indexed
        pool = max(self.settings.candidate_pool, k)
        dense = self.dense(query, pool, groups, source) if mode in ("hybrid", "dense") else []
        lexical = self.lexical(query, pool, groups, source) if mode in ("hybrid", "bm25") else []
        fused: dict[str, float] = {}
        for weight, ranking in ((self.settings.dense_weight, dense), (self.settings.lexical_weight, lexical)):
            for rank, (chunk_id, _) in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        order = sorted(fused, key=fused.get, reverse=True)
        if self.settings.reranker_model:
            order = order[: max(k * 3, 10)]
        else:
            order = order[:k]
        hits = self.get(order)
        dense_by_id, lexical_by_id = dict(dense), dict(lexical)
        for hit in hits:
            hit.score = fused[hit.id]
            hit.dense_similarity = dense_by_id.get(hit.id)
            hit.lexical_score = lexical_by_id.get(hit.id)
        if self.settings.reranker_model and hits:
            hits = self._rerank(query, hits)
        return hits[:k]

    def _rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if self._reranker is None:
            from sentence_transformers import CrossEncoder

            self._reranker = CrossEncoder(self.settings.reranker_model, device="cpu")
        scores = self._reranker.predict([(query, h.text) for h in hits])
        for hit, score in zip(hits, scores):
            hit.score = float(score)
        return sorted(hits, key=lambda h: h.score, reverse=True)

    def get(self, ids: list[str], groups: list[str] | None = None) -> list[Hit]:
        """Chunks by id, in the order given; with ``groups``, only those the user may see."""
        if not ids:
            return []
        data = self._collection.get(ids=ids, include=["documents", "metadatas"])
        by_id = {
            i: _hit(i, d, m)
            for i, d, m in zip(data["ids"], data["documents"], data["metadatas"])
            if _visible(m, groups, None)
        }
        return [by_id[i] for i in ids if i in by_id]

    def find(self, doc_id: str | None, clause_title: str | None = None, clause: str | None = None, groups: list[str] | None = None) -> list[Hit]:
        """Chunks of one document (``None``: of every document), optionally one clause, in reading order, if the user may see them."""
        conditions: list[dict] = [{"doc_id": doc_id}] if doc_id is not None else []
        if clause_title is not None:
            conditions.append({"clause_title": clause_title})
        if clause is not None:
            conditions.append({"clause": clause})
        access = _where(groups, None)
        if access:
            conditions.append(access)
        where = None if not conditions else conditions[0] if len(conditions) == 1 else {"$and": conditions}
        data = self._collection.get(where=where, include=["documents", "metadatas"])
        hits = [(m["seq"], _hit(i, d, m)) for i, d, m in zip(data["ids"], data["documents"], data["metadatas"])]
        return [h for _, h in sorted(hits, key=lambda pair: pair[0])]


def report_dict(report: IndexReport) -> dict:
    """A JSON-friendly view of an indexing run; each failed file with the reason it was skipped."""
    data = asdict(replace(report, errors=[]))
    data["errors"] = [{"file": e.path, "reason": e.reason} for e in report.errors]
    return data
