"""Indexing is exclusive and crash-safe: a second indexer waits, and `kill -9` at any moment of
`linkage index` followed by a re-run (plain or with the same paths) leaves the index a clean build
would give — same chunk ids, every stored chunk known to the state, BM25 and Chroma in step.

The killed run is a real `linkage index` process: ``LINKAGE_CRASH_AT`` names the moment it is killed
with SIGKILL (after the journal, after a first batch of vectors, after retiring chunks, after the
state, after BM25, after publishing). A small private corpus and the hashing embedder keep it fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock
from pydantic import SecretStr

from assistant.index import KnowledgeIndex
from assistant.index.indexer import Indexer
from assistant.index.lexical import LexicalIndex
from assistant.index.store import is_member
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _write(folder: Path, name: str, clauses: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"## {title}\n{text}\n\n" for title, text in clauses.items())
    (folder / name).write_text(f"---\ntitle: {name}\nsource: document\n---\n{body}", encoding="utf-8")


@pytest.fixture
def world(tmp_path):
    """A corpus, an indexed folder A, then changes: A's first file edited, its second deleted, a folder B to add."""
    corpus = tmp_path / "corpus"
    _write(corpus / "docs", "guide.md", {"专利跟踪": "定期检索竞争对手专利并记录。", "标准跟踪": "关注目标标准的制修订进展。"})
    (corpus / "manifest.yaml").write_text("include: [docs]\n", encoding="utf-8")
    (corpus / "records").mkdir()
    shutil.copy(ROOT / "corpus" / "workflow.yaml", corpus / "workflow.yaml")  # the service reads it after indexing
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    _write(folder_a, "a1.md", {f"条款{i}": f"第{i}条：储能材料的专利布局要点之{i}。" for i in range(4)})
    _write(folder_a, "a2.md", {f"附则{i}": f"附则第{i}项：许可声明的选择{i}。" for i in range(3)})
    return tmp_path, corpus, folder_a, folder_b


def _settings(data: Path, corpus: Path) -> Settings:
    return Settings(data_dir=data, corpus_dir=corpus, embedding_backend="hashing", embedding_batch_size=2, _env_file=None)


def _change(folder_a: Path, folder_b: Path) -> None:
    _write(folder_a, "a1.md", {f"条款{i}": f"第{i}条：储能材料的专利布局要点之{i}{'（已修订）' if i % 2 else ''}。" for i in range(4)})
    (folder_a / "a2.md").unlink()
    for n in range(3):
        _write(folder_b, f"b{n}.md", {f"节{i}": f"文件{n}第{i}节：团体标准的必要专利披露{n}{i}。" for i in range(4)})


def _linkage(data: Path, corpus: Path, *args: str, crash: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    environment.update(
        PYTHONPATH=str(ROOT), ANONYMIZED_TELEMETRY="False", LINKAGE_DATA_DIR=str(data), LINKAGE_CORPUS_DIR=str(corpus),
        LINKAGE_EMBEDDING_BACKEND="hashing", LINKAGE_EMBEDDING_BATCH_SIZE="2", **env,
    )
    if crash:
        environment["LINKAGE_CRASH_AT"] = crash
    command = [sys.executable, "-c", "from assistant.surfaces.cli import app; app()", *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=180)


def _shape(data: Path, corpus: Path) -> dict:
    """Everything that must agree: Chroma's chunks, the state's, BM25's, and the files the state lists."""
    index = KnowledgeIndex(_settings(data, corpus))
    head = index.store.head()
    stored = index.store.metadatas(head.collection)
    state = index.indexer.load_state()
    known = [i for entry in state["files"].values() for i in entry["chunk_ids"]]
    lexical = LexicalIndex.load(index.indexer.lexical_dir)
    assert len(known) == len(set(known)), "a chunk listed twice"
    assert all(is_member(meta, head.generation) and not meta.get("retired") for meta in stored.values())
    assert lexical is not None and lexical.generation == head.generation == state["generation"]
    assert not (index.directory / "journal.json").exists()
    assert index.store.collections() == [head.collection]
    return {"chroma": sorted(stored), "state": sorted(known), "bm25": sorted(lexical.ids), "files": sorted(state["files"])}


@pytest.fixture
def clean_build(world):
    """The index a clean build of the changed files gives (its own data dir)."""
    tmp, corpus, folder_a, folder_b = world
    _change(folder_a, folder_b)
    index = KnowledgeIndex(_settings(tmp / "clean", corpus))
    index.sync([folder_a, folder_b])
    shape = _shape(tmp / "clean", corpus)
    assert shape["chroma"] == shape["state"] == shape["bm25"] and len(shape["chroma"]) == 2 + 4 + 12
    # put the world back as it was before the change
    _write(folder_a, "a2.md", {f"附则{i}": f"附则第{i}项：许可声明的选择{i}。" for i in range(3)})
    _write(folder_a, "a1.md", {f"条款{i}": f"第{i}条：储能材料的专利布局要点之{i}。" for i in range(4)})
    for path in folder_b.iterdir():
        path.unlink()
    folder_b.rmdir()
    return shape


slow = pytest.mark.slow  # each case is a real process killed mid-run (~10 s); CI runs them all


@pytest.mark.parametrize(
    ("moment", "killed_run", "rerun"),
    [
        pytest.param("journal", "index", "plain", marks=slow),
        ("embedding", "index", "plain"),
        pytest.param("embedding", "index", "same-paths", marks=slow),
        pytest.param("embedding", "index --rebuild", "plain", marks=slow),
        pytest.param("retired", "index", "same-paths", marks=slow),
        pytest.param("state", "index", "plain", marks=slow),
        ("lexical", "index", "same-paths"),
        pytest.param("published", "index", "plain", marks=slow),
    ],
)
def test_kill_at_any_moment_then_rerun_equals_a_clean_build(world, clean_build, moment, killed_run, rerun):
    tmp, corpus, folder_a, folder_b = world
    data = tmp / "data"
    KnowledgeIndex(_settings(data, corpus)).sync([folder_a])
    _change(folder_a, folder_b)

    killed = _linkage(data, corpus, *killed_run.split(), str(folder_b), crash=moment)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    index = KnowledgeIndex(_settings(data, corpus))
    report = index.sync([folder_b] if rerun == "same-paths" else [])
    assert report.repaired, "the re-run must say what it repaired"
    assert _shape(data, corpus) == clean_build
    assert {"b0", "b1", "b2"} <= {h.doc_id.split("-")[0] for h in index.search("必要专利披露", k=20, mode="bm25")}
    assert "a2" not in {h.doc_id.split("-")[0] for h in index.search("许可声明的选择", k=20)}


def test_a_second_indexer_waits_for_the_first(world, caplog):
    tmp, corpus, folder_a, _ = world
    data = tmp / "data"
    index = KnowledgeIndex(_settings(data, corpus))
    held = threading.Event()

    def hold_for_a_while() -> None:
        with FileLock(str(data / "index.lock")):
            held.set()
            time.sleep(1.5)

    threading.Thread(target=hold_for_a_while).start()
    held.wait(10)
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="assistant.index"):
        report = index.sync([folder_a])
    assert time.monotonic() - start >= 1.4 and report.added
    assert "另一个索引进程正在更新" in caplog.text


def test_a_second_indexer_that_may_not_wait_says_so_in_one_line(world):
    tmp, corpus, folder_a, _ = world
    data = tmp / "data"
    data.mkdir()
    holder = FileLock(str(data / "index.lock"))
    with holder:
        result = _linkage(data, corpus, "index", LINKAGE_INDEX_LOCK_TIMEOUT="0.5")
    assert result.returncode == 2
    assert "另一个索引进程仍在更新" in result.stderr and "Traceback" not in result.stderr


def test_on_a_chroma_server_any_data_dir_continues_the_index_even_after_a_kill(world, clean_build, chroma_url):
    """The state and journal live on the server: a fresh indexer container finishes a killed run."""
    tmp, corpus, folder_a, folder_b = world
    first = KnowledgeIndex(_settings(tmp / "first", corpus).model_copy(update={"chroma_url": chroma_url}))
    first.sync([folder_a])
    _change(folder_a, folder_b)
    killed = _linkage(tmp / "second", corpus, "index", str(folder_b), crash="embedding", LINKAGE_CHROMA_URL=chroma_url)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    third = KnowledgeIndex(_settings(tmp / "third", corpus).model_copy(update={"chroma_url": chroma_url}))
    report = third.sync()
    assert report.repaired and report.chunks_reused > 0  # vectors of the killed run are reused, not recomputed
    replica = KnowledgeIndex(_settings(tmp / "replica", corpus).model_copy(update={"chroma_url": chroma_url}))
    head = replica.store.head()
    stored = replica.store.metadatas(head.collection)
    state = replica.indexer.load_state()
    known = sorted(i for entry in state["files"].values() for i in entry["chunk_ids"])
    assert sorted(stored) == known == sorted(replica._current().lexical.index.ids) == clean_build["chroma"]
    assert replica.store.read_record("journal") is None
    assert {"b0", "b1", "b2"} <= {h.doc_id.split("-")[0] for h in replica.search("必要专利披露", k=20, mode="bm25")}


# --- two hosts, one shared index: PostgreSQL's advisory lock serialises their indexers (issue 12, item 3)


def _host(data: Path, corpus: Path, database: str) -> Settings:
    return _settings(data, corpus).model_copy(update={"database_url": SecretStr(database)})


def test_indexers_on_two_hosts_sharing_postgresql_take_turns(world, postgres_url, caplog):
    """Host 2 has its own data dir (its file lock is free) and still waits for host 1's indexer."""
    tmp, corpus, folder_a, _ = world
    held = threading.Event()

    def host_one_indexes_for_a_while() -> None:
        with Indexer(_host(tmp / "host1", corpus, postgres_url), None, None, tmp / "host1").locked():
            held.set()
            time.sleep(1.5)

    threading.Thread(target=host_one_indexes_for_a_while).start()
    assert held.wait(20)
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="assistant.index"):
        report = KnowledgeIndex(_host(tmp / "host2", corpus, postgres_url)).sync([folder_a])
    assert time.monotonic() - start >= 1.4 and report.added
    assert "另一个索引进程正在更新 共享的知识库" in caplog.text


def test_a_host_that_may_not_wait_says_so_and_a_killed_holder_frees_the_lock(world, postgres_url):
    tmp, corpus, folder_a, _ = world
    held, release = threading.Event(), threading.Event()

    def host_one_holds() -> None:
        with Indexer(_host(tmp / "host1", corpus, postgres_url), None, None, tmp / "host1").locked():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=host_one_holds)
    holder.start()
    assert held.wait(20)
    try:
        busy = _linkage(tmp / "host2", corpus, "index", LINKAGE_DATABASE_URL=postgres_url, LINKAGE_INDEX_LOCK_TIMEOUT="0.5")
    finally:
        release.set()
        holder.join()
    assert busy.returncode == 2
    assert "另一个索引进程仍在更新 共享的知识库" in busy.stderr and "Traceback" not in busy.stderr

    killed = _linkage(tmp / "host1", corpus, "index", str(folder_a), crash="embedding", LINKAGE_DATABASE_URL=postgres_url)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = _linkage(tmp / "host2", corpus, "index", LINKAGE_DATABASE_URL=postgres_url, LINKAGE_INDEX_LOCK_TIMEOUT="5")
    assert after.returncode == 0, after.stderr  # the server freed the dead indexer's lock with its connection
