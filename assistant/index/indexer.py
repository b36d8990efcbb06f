"""Indexing: discover files, fingerprint, chunk, embed and store them — one writer at a time, crash-safe.

Indexing is incremental. A file whose bytes (and chunking settings and code) are unchanged is skipped; a
changed file keeps the chunks whose content id is unchanged, with their stored embeddings, and
only new chunks are embedded; files that disappeared lose their chunks.

Each run that changes anything makes a new generation G+1: it holds the data directory's lock,
writes a journal, stores new chunks as G+1, marks removed ones retired at G+1, saves its state,
saves BM25 and only then publishes the head (the commit point every reader follows), after which
retired chunks are deleted. A run killed at any moment leaves its journal; the next run rolls the
interrupted one forward (when its state was saved) or back (keeping the vectors it may reuse), and
removes every chunk its state does not know, so the result equals a clean build. ``repair``
checks everything (Chroma against the state, BM25 against Chroma) whether or not a run crashed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml
from filelock import FileLock, Timeout

from assistant.errors import DocumentLoadError, IndexBusyError, IndexDamagedError, os_reason
from assistant.index.embeddings import Embedder
from assistant.index.lexical import LexicalIndex, tokenize
from assistant.index.store import ChunkStore, Head, StoreUnavailable, chunk_metadata, is_member
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.ingest.pipeline import chunk_file, chunking_recipe
from assistant.ingest.models import EMBEDDING_RECIPE, Chunk
from assistant.settings import Settings

Progress = Callable[[str, int, int], None]  # (description, completed, total)
log = logging.getLogger("assistant.index")


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    total_chunks: int = 0
    generation: int = 0
    repaired: list[str] = field(default_factory=list)  # what an interrupted run or a check left to fix
    errors: list[DocumentLoadError] = field(default_factory=list)


def report_dict(report: IndexReport) -> dict:
    """A JSON-friendly view of an indexing run; each failed file with the reason it was skipped."""
    data = asdict(replace(report, errors=[]))
    data["errors"] = [{"file": e.path, "reason": e.reason} for e in report.errors]
    return data


def _file_lock_taken(lock: FileLock, wait: float) -> bool:
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        return False
    return True


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: ``LINKAGE_CRASH_AT=name`` kills the process here, like ``kill -9``."""
    if os.environ.get("LINKAGE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Indexer:
    """Brings one vector space's collection, state and BM25 files up to date with the files on disk."""

    def __init__(self, settings: Settings, store: ChunkStore, embedder: Callable[[], Embedder], directory: Path):
        self.settings = settings
        self.store = store
        self._embedder = embedder
        self.directory = directory
        self.lexical_dir = directory / "lexical"
        self._state_file = directory / "state.json"
        self._journal_file = directory / "journal.json"

    # ----- files of the data directory -----
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Only one indexer writes a data directory; with a PostgreSQL database, only one writes the
        shared index on any host (several hosts may index one Chroma server). A second one says so
        and waits."""
        from assistant.storage.database import PG_INDEX_LOCK, database_url, shared_lock_connection, try_advisory_lock

        lock = FileLock(str(self.settings.data_dir / "index.lock"))
        self._take(lambda wait: _file_lock_taken(lock, wait), str(self.settings.data_dir))
        shared = None
        try:
            url = database_url(self.settings)
            if url.startswith("postgresql"):
                shared = shared_lock_connection(url)
                self._take(lambda wait: try_advisory_lock(shared, PG_INDEX_LOCK, wait), "共享的知识库（可能在另一台主机上）")
            yield
        finally:
            if shared is not None:
                shared.close()  # releases the advisory lock
            lock.release()

    def _take(self, take: Callable[[float], bool], place: str) -> None:
        """Take a lock at once, or say who holds it and wait up to ``index_lock_timeout`` seconds."""
        if take(0):
            return
        log.warning("另一个索引进程正在更新 %s，等待它结束……", place)
        if not take(self.settings.index_lock_timeout):
            raise IndexBusyError(f"另一个索引进程仍在更新 {place}（已等待 {self.settings.index_lock_timeout:.0f} 秒），请稍后再试。")

    # The state (files, chunk ids, roots, generation) and the journal live beside the data: in the
    # data dir for the embedded store, on the Chroma server otherwise, so any machine may index it.
    def _read(self, path: Path, default: dict, repair: bool) -> dict:
        try:
            text = self.store.read_record(path.stem) if self.store.remote else (path.read_text(encoding="utf-8") if path.exists() else None)
            if text is None:
                return default
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data
        except ValueError:
            if repair:
                return default
            raise IndexDamagedError(path if not self.store.remote else f"{self.store.location} {path.stem}", "无法解析") from None

    def _write(self, path: Path, data: dict) -> None:
        text = json.dumps(data, ensure_ascii=False, indent=None if self.store.remote else 1)
        if self.store.remote:
            self.store.write_record(path.stem, text)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)

    def _clear(self, path: Path) -> None:
        if self.store.remote:
            self.store.delete_record(path.stem)
        else:
            path.unlink(missing_ok=True)

    def load_state(self, repair: bool = False) -> dict:
        state = self._read(self._state_file, {}, repair)
        state.setdefault("roots", [])
        state.setdefault("files", {})
        state.setdefault("generation", 0)
        return state

    # ----- discovering and reading files -----
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
        knobs = (EMBEDDING_RECIPE, chunking_recipe(), self.settings.chunk_max_chars, self.settings.chunk_overlap_chars, self.settings.chunk_min_chars, plan)
        digest.update(json.dumps(knobs, ensure_ascii=False, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def indexed_files(self) -> list[Path]:
        """Every file whose chunks the index holds."""
        return [Path(key) for key in self.load_state()["files"]]

    # ----- the run -----
    def sync(self, paths: Iterable[Path] = (), rebuild: bool = False, repair: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the shipped corpus, the given paths and earlier roots."""
        with self.locked():
            return self._sync(list(paths), rebuild, repair, progress)

    def _sync(self, paths: list[Path], rebuild: bool, repair: bool, progress: Progress | None) -> IndexReport:
        report = IndexReport()
        # Under the lock: see what other processes wrote, never write over it from a stale view.
        if repair:
            self._check_store(report)
        else:
            self.store.reopen()
        head = self.store.head()
        state = self.load_state(repair)
        head, state, changed = self._recover(head, state, repair or rebuild, report)

        target = head.generation + 1
        collection = self.store.collection_name(target, fresh=True) if rebuild else head.collection
        if rebuild:
            state = {"roots": [], "files": {}, "generation": head.generation}
        for path in paths:
            resolved = str(Path(path).expanduser().resolve())
            if not Path(resolved).exists():
                report.errors.append(DocumentLoadError(path, "文件或目录不存在"))
            elif resolved not in state["roots"]:
                state["roots"].append(resolved)
        state["roots"] = [r for r in state["roots"] if Path(r).exists()]
        # Roots are in the journal, so a re-run after a crash finishes this run's work.
        self._write(self._journal_file, {"target": target, "collection": collection, "previous": head.collection, "roots": state["roots"]})
        crash_point("journal")

        discovered = self._discover(state["roots"])
        pending: list[tuple[str, str, list[Chunk], list[str]]] = []
        for number, (key, plan) in enumerate(discovered.items()):
            if progress:
                progress("读取文档", number, len(discovered))
            path = Path(key)
            try:
                fingerprint = self._fingerprint(path, plan)
                if state["files"].get(key, {}).get("fingerprint") == fingerprint:
                    report.unchanged += 1
                    report.errors += [DocumentLoadError(path, p) for p in state["files"][key].get("problems", [])]
                    continue
                chunks, problems = chunk_file(path, plan["doc_id"], plan["overrides"], self.settings)
                report.errors += [DocumentLoadError(path, p) for p in problems]
                pending.append((key, fingerprint, chunks, problems))
            except DocumentLoadError as exc:
                report.errors.append(exc)
            except OSError as exc:
                report.errors.append(DocumentLoadError(path, f"无法读取文件（{os_reason(exc)}）"))
        if progress:
            progress("读取文档", len(discovered), len(discovered))

        # Chunks already stored (same content id) keep their vectors; only new ones are embedded.
        wanted = [chunk for _, _, chunks, _ in pending for chunk in chunks]
        wanted_ids = list(dict.fromkeys(c.id for c in wanted))
        stored = self.store.existing(collection, wanted_ids)
        fresh = list({c.id: c for c in wanted if c.id not in stored}.values())
        report.chunks_reused = len(set(wanted_ids) & stored)
        self._embed_and_store(collection, fresh, target, progress)
        report.chunks_embedded = len(fresh)

        retired: list[str] = []
        for key, fingerprint, chunks, problems in pending:
            old_ids = set(state["files"].get(key, {}).get("chunk_ids", []))
            new_ids = [c.id for c in chunks]
            retired += sorted(old_ids - set(new_ids))
            (report.updated if key in state["files"] else report.added).append(key)
            state["files"][key] = {"fingerprint": fingerprint, "chunk_ids": new_ids, "problems": problems}
        for key in [k for k in state["files"] if k not in discovered]:
            retired += state["files"].pop(key)["chunk_ids"]
            report.removed.append(key)
        if retired and not rebuild:
            self.store.update(collection, retired, {"retired": target})
        crash_point("retired")

        changed = changed or bool(pending or report.removed or rebuild or repair) or not self._lexical_current(head)
        if not changed:
            self._clear(self._journal_file)
            report.generation = head.generation
            report.total_chunks = len(self._known(state))
            return report
        state["generation"] = target
        self._write(self._state_file, state)
        crash_point("state")
        self._commit(Head(target, collection), state, head.collection, report)
        report.generation = target
        report.total_chunks = len(self._known(state))
        return report

    def _embed_and_store(self, collection: str, chunks: list[Chunk], generation: int, progress: Progress | None) -> None:
        step = max(1, self.settings.embedding_batch_size)
        for start in range(0, len(chunks), step):
            if progress:
                progress("生成向量", start, len(chunks))
            batch = chunks[start : start + step]
            self.store_embedded(collection, batch, self._embedder().embed_passages([c.embedding_text() for c in batch]), generation)
            crash_point("embedding")
        if progress and chunks:
            progress("生成向量", len(chunks), len(chunks))

    def publish_stored(self) -> None:
        """Publish chunks stored with ``store_embedded`` outside a run (benchmarks) as the next generation."""
        with self.locked():
            head = self.store.head()
            state = self.load_state()
            state["generation"] = head.generation + 1
            self._write(self._state_file, state)
            self._commit(Head(head.generation + 1, head.collection), None, head.collection, IndexReport())

    def store_embedded(self, collection: str, chunks: list[Chunk], vectors: np.ndarray, generation: int) -> None:
        """Store chunks whose vectors are already known, as part of ``generation``."""
        user_dict = self.settings.terms_path
        metadatas = [chunk_metadata(c, tokenize(c.lexical_text(), user_dict), generation) for c in chunks]
        self.store.upsert(collection, chunks, vectors, metadatas)

    @staticmethod
    def _known(state: dict) -> set[str]:
        return {i for entry in state["files"].values() for i in entry["chunk_ids"]}

    def _commit(self, head: Head, state: dict | None, previous: str, report: IndexReport) -> None:
        """Save BM25, publish the head, then delete what the new generation does not hold.

        Chunks the state does not know (retired now, or left by an interrupted run) are marked
        retired before the head moves, so no reader of the new generation counts them.
        """
        metadatas = self.store.metadatas(head.collection)
        if state is None:
            known = {i for i, m in metadatas.items() if is_member(m, head.generation)}
        else:
            known = self._known(state)
        strays = [i for i in metadatas if i not in known]
        unmarked = [i for i in strays if is_member(metadatas[i], head.generation)]
        if unmarked:
            self.store.update(head.collection, unmarked, {"retired": head.generation})
        members = {i: m for i, m in metadatas.items() if i in known}
        missing = known - members.keys()
        if missing:
            report.repaired.append(f"向量库缺少 {len(missing)} 段（与索引状态不一致），请运行 `linkage index --repair`")
        self.build_lexical(members, head.generation).save(self.lexical_dir)
        crash_point("lexical")
        self.store.publish(head)
        crash_point("published")
        if strays:
            self.store.delete(head.collection, strays)
        for name in self.store.collections():
            if name != head.collection:  # the collection a rebuild replaced, or one a crashed rebuild left
                self.store.drop(name)
        self._clear(self._journal_file)

    @staticmethod
    def build_lexical(metadatas: dict[str, dict], generation: int) -> LexicalIndex:
        """BM25 from the tokens stored with every chunk (ordered by id, so every replica builds the same index)."""
        ids = sorted(metadatas)
        rows = [{"source": metadatas[i]["source"], "access": metadatas[i]["access"]} for i in ids]
        return LexicalIndex(ids, [metadatas[i]["tokens"].split() for i in ids], rows, generation)

    def _lexical_current(self, head: Head) -> bool:
        try:
            saved = LexicalIndex.load(self.lexical_dir)
        except IndexDamagedError:
            return False
        return saved is not None and saved.generation == head.generation

    # ----- recovery -----
    def _recover(self, head: Head, state: dict, repair: bool, report: IndexReport) -> tuple[Head, dict, bool]:
        """Finish or undo a run that was killed; with ``repair`` (or a rebuild), check Chroma against the state as well."""
        journal = self._read(self._journal_file, {}, repair=True)
        changed = False
        if journal:
            target = int(journal.get("target", 0))
            if head.generation >= target:  # published; only the clean-up was cut short
                self._commit(head, state if state["generation"] == head.generation else None, journal.get("previous", head.collection), report)
                report.repaired.append(f"完成了上次中断的索引收尾（第 {head.generation} 代）")
            elif state["generation"] == target:  # its state was saved: roll forward
                new_head = Head(target, journal["collection"])
                self._commit(new_head, state, journal.get("previous", head.collection), report)
                head = new_head
                report.repaired.append(f"完成了上次中断的索引（第 {target} 代）")
            else:  # killed before its state was saved: roll back, keeping vectors the re-run may reuse
                if journal.get("collection") != head.collection:
                    self.store.drop(journal["collection"])
                else:
                    revived = [i for i, m in self.store.metadatas(head.collection).items() if (m.get("retired") or 0) > head.generation]
                    if revived:
                        self.store.update(head.collection, revived, {"retired": 0})
                state["roots"] += [r for r in journal.get("roots", []) if r not in state["roots"]]
                changed = True
                report.repaired.append("上次索引被中断，已撤销其未完成的写入并重新索引")
            self._clear(self._journal_file)
        if state["generation"] != head.generation and not journal:
            if not repair:
                raise IndexDamagedError(
                    self._state_file, f"索引状态为第 {state['generation']} 代，向量库为第 {head.generation} 代，可能另一个数据目录更新过向量库"
                )
        if repair:
            changed = True
            stored = self.store.metadatas(head.collection)
            for key, entry in list(state["files"].items()):
                if any(i not in stored or not is_member(stored[i], head.generation) for i in entry["chunk_ids"]):
                    del state["files"][key]  # indexed again by this run
                    report.repaired.append(f"重新索引 {key}（向量库中缺少它的片段）")
            revived = [i for i, m in stored.items() if (m.get("retired") or 0) > head.generation]
            if revived:
                self.store.update(head.collection, revived, {"retired": 0})
            state["generation"] = head.generation
        return head, state, changed

    def _check_store(self, report: IndexReport) -> None:
        """Repair: an unreadable embedded Chroma store is moved aside and everything is indexed again."""
        if self.store.remote:
            return
        try:
            self.store.reopen()
            self.store.head()
            for name in self.store.collections():
                self.store.collection(name).count()
        except Exception as exc:  # chromadb reports a damaged SQLite file as InternalError, never more precisely
            if not store_error(exc):
                raise
            aside = self.settings.chroma_dir.with_name(f"chroma.damaged-{time.strftime('%Y%m%d%H%M%S')}")
            shutil.move(str(self.settings.chroma_dir), str(aside))
            self.store.reopen()
            self._state_file.unlink(missing_ok=True)
            self._clear(self._journal_file)
            shutil.rmtree(self.lexical_dir, ignore_errors=True)
            report.repaired.append(f"向量库无法读取，已移到 {aside} 并重建索引")


def store_error(exc: BaseException) -> bool:
    """Whether an exception comes from the Chroma store (a damaged file, a server that is down)."""
    from chromadb.errors import ChromaError

    import httpx

    return isinstance(exc, (ChromaError, StoreUnavailable, httpx.HTTPError, ConnectionError))
