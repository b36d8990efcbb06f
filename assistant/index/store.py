"""Chroma access: the chunk collection of one vector space and the head that names its current generation.

Every stored chunk carries ``gen`` (the generation that added it) and ``retired`` (the generation
that removed it, 0 while live). A reader takes exactly the chunks of the generation the head
names, even while an indexer in another process writes the next one; the head is the one commit
point. Embedded (``PersistentClient``, the default) or a Chroma server (``LINKAGE_CHROMA_URL``).
Chroma never embeds anything itself (no default ONNX model): vectors are always passed in.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from assistant.ingest.models import Chunk, format_citation
from assistant.settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_HEADS = "linkage-heads"  # one record per vector space: which collection and generation is current
_BATCH = 1000
_PAGE = 5000  # paged reads: one large read exceeds SQLite's variable limit
# chromadb sets a client up (and keeps it in a per-path registry) without a lock: twenty first
# requests at once each built one and most failed half-way ("index damaged"). One at a time.
_CONNECTING = threading.Lock()


class StoreUnavailable(Exception):
    """The Chroma client could not be created (chromadb raises whatever its clean-up hits on a damaged file)."""


@dataclass(frozen=True)
class Head:
    generation: int
    collection: str


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
    kind: str = "document"  # document | summary | record: only a document's own headings are its outline

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


def chunk_metadata(chunk: Chunk, tokens: list[str], generation: int) -> dict:
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
        "gen": generation,
        "retired": 0,
    }
    for group in chunk.access:
        meta[f"group:{group}"] = True
    return meta


def is_member(meta: dict, generation: int) -> bool:
    """Whether a stored chunk belongs to ``generation`` (added at or before it, not retired by then)."""
    retired = meta.get("retired") or 0
    return (meta.get("gen") or 0) <= generation and not 0 < retired <= generation


def to_hit(chunk_id: str, text: str, meta: dict) -> Hit:
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
        kind=meta.get("kind", "document"),
    )


def visible(meta: dict, groups: list[str] | None, source: str | None) -> bool:
    if source and meta["source"] != source:
        return False
    if groups is None or meta["source"] != "record":
        return True
    return bool(set(filter(None, meta["access"].split("|"))) & set(groups))


def access_filter(groups: list[str] | None, source: str | None) -> dict | None:
    """A Chroma ``where`` for what a user may see (``groups=None``: everything)."""
    clauses: list[dict] = []
    if source:
        clauses.append({"source": source})
    if groups is not None:
        allowed = [{"public": True}] + [{f"group:{g}": True} for g in groups]
        clauses.append({"$or": allowed} if len(allowed) > 1 else allowed[0])
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChunkStore:
    """The Chroma client and the collections of one vector space."""

    def __init__(self, settings: Settings, space: str):
        self.settings = settings
        self.space = space
        self.base_name = "linkage-" + re.sub(r"[^a-zA-Z0-9._-]", "-", space)
        self._connected = None
        self._opened: dict[str, object] = {}
        # Embedded mode: a file replaced on every publish, so readers notice a new head with a stat.
        self._signal = settings.data_dir / "index" / space / "published"

    @property
    def remote(self) -> bool:
        return bool(self.settings.chroma_url)

    @property
    def location(self) -> str:
        """What to name in a message about the store."""
        return self.settings.chroma_url or str(self.settings.chroma_dir / "chroma.sqlite3")

    def _connect(self, fresh: bool):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        options = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.remote:
            url = urlsplit(self.settings.chroma_url)
            https = url.scheme == "https"
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1", port=url.port or (443 if https else 8000), ssl=https, settings=options
            )
        path = str(self.settings.chroma_dir)
        if fresh:
            # An embedded client keeps its vector index in memory and never sees another process's
            # writes; dropping Chroma's per-path cache gives the next client a fresh view of the files.
            from chromadb.api.shared_system_client import SharedSystemClient

            SharedSystemClient._identifier_to_system.pop(path, None)
            SharedSystemClient._identifier_to_refcount.pop(path, None)
        try:
            return chromadb.PersistentClient(path=path, settings=options)
        except Exception as exc:
            raise StoreUnavailable(str(exc)) from exc

    @property
    def _client(self):
        """Connected on first use, so a damaged store can still be repaired."""
        if self._connected is None:
            with _CONNECTING:
                if self._connected is None:
                    self._connected = self._connect(fresh=False)
        return self._connected

    def reopen(self) -> None:
        """See writes made by other processes (embedded mode; a server is always current)."""
        if not self.remote:
            with _CONNECTING:
                self._connected = self._connect(fresh=True)
                self._opened = {}

    # ----- the head -----
    def _heads(self):
        return self.collection(_HEADS)

    def stamp(self) -> tuple | None:
        """Changes whenever a head is published (embedded mode); ``None``: ask the server every time."""
        if self.remote:
            return None
        try:
            info = self._signal.stat()
        except FileNotFoundError:
            return ("none",)
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def head(self) -> Head:
        """The published generation; an index built before heads existed is generation 0 of its one collection."""
        found = self._heads().get(ids=[self.space], include=["metadatas"])
        if found["ids"]:
            meta = found["metadatas"][0]
            return Head(int(meta["generation"]), str(meta["collection"]))
        return Head(0, self.base_name)

    def publish(self, head: Head) -> None:
        self._heads().upsert(
            ids=[self.space], embeddings=[[0.0]], metadatas=[{"generation": head.generation, "collection": head.collection}]
        )
        if not self.remote:
            staging = self._signal.with_suffix(".tmp")
            staging.write_text(f"{head.generation} {head.collection}\n", encoding="utf-8")
            staging.replace(self._signal)

    def read_record(self, name: str) -> str | None:
        """A bookkeeping document of this vector space kept on the server (the indexer's state, its journal)."""
        found = self._heads().get(ids=[f"{self.space}:{name}"], include=["documents"])
        return found["documents"][0] if found["ids"] else None

    def write_record(self, name: str, text: str) -> None:
        self._heads().upsert(ids=[f"{self.space}:{name}"], embeddings=[[0.0]], documents=[text], metadatas=[{"record": name}])

    def delete_record(self, name: str) -> None:
        self._heads().delete(ids=[f"{self.space}:{name}"])

    def collection_name(self, generation: int, fresh: bool) -> str:
        """A rebuild writes a new collection beside the current one; readers switch when the head does."""
        return f"{self.base_name}-g{generation}" if fresh else self.base_name

    def collection(self, name: str):
        opened = self._opened.get(name)
        if opened is None:
            self._client  # noqa: B018 - connected first: it takes the same lock
            with _CONNECTING:  # the client and the opened collections as a reopen() left them
                opened = self._opened.get(name)
                if opened is None:
                    opened = self._opened[name] = self._connected.get_or_create_collection(
                        name, embedding_function=None, metadata=None if name == _HEADS else {"hnsw:space": "cosine"}
                    )
        return opened

    def collections(self) -> list[str]:
        """This vector space's chunk collections (the current one and any a crashed rebuild left)."""
        names = [c.name for c in self._client.list_collections()]  # never the heads
        return [n for n in names if n == self.base_name or n.startswith(self.base_name + "-g")]

    def drop(self, name: str) -> None:
        self._opened.pop(name, None)
        if name in self.collections():
            self._client.delete_collection(name)

    # ----- chunks -----
    def upsert(self, name: str, chunks: list[Chunk], vectors: np.ndarray, metadatas: list[dict]) -> None:
        collection = self.collection(name)
        for start in range(0, len(chunks), _BATCH):
            batch = chunks[start : start + _BATCH]
            collection.upsert(
                ids=[c.id for c in batch],
                embeddings=vectors[start : start + _BATCH].tolist(),
                documents=[c.text for c in batch],
                metadatas=metadatas[start : start + _BATCH],
            )

    def existing(self, name: str, ids: list[str]) -> set[str]:
        collection = self.collection(name)
        found: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            found.update(collection.get(ids=ids[start : start + _BATCH], include=[])["ids"])
        return found

    def metadatas(self, name: str) -> dict[str, dict]:
        """Every stored chunk's metadata by id (members of any generation)."""
        collection = self.collection(name)
        out: dict[str, dict] = {}
        total = collection.count()
        for offset in range(0, total, _PAGE):
            page = collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            out.update(zip(page["ids"], page["metadatas"]))
        return out

    def update(self, name: str, ids: list[str], change: dict) -> None:
        collection = self.collection(name)
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            collection.update(ids=batch, metadatas=[dict(change) for _ in batch])

    def delete(self, name: str, ids: list[str]) -> None:
        collection = self.collection(name)
        for start in range(0, len(ids), _BATCH):
            collection.delete(ids=ids[start : start + _BATCH])

    def query(self, name: str, vector: np.ndarray, n: int, where: dict | None) -> list[tuple[str, float]]:
        collection = self.collection(name)
        result = collection.query(query_embeddings=[vector.tolist()], n_results=n, where=where, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0])]

    def get(self, name: str, ids: list[str] | None = None, where: dict | None = None, embeddings: bool = False) -> dict:
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        return self.collection(name).get(ids=ids, where=where, include=include)
