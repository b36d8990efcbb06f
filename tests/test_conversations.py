"""Conversations and feedback through SQLAlchemy + Alembic: SQLite (WAL) by default, PostgreSQL when configured.

The PostgreSQL tests run against the server named by LINKAGE_TEST_DATABASE_URL (`.ci/run` starts
one) and are skipped, with that reason, without one.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, inspect, text

from assistant.agent.conversations import ConversationStore, metadata
from assistant.agent.models import Answer, Citation
from assistant.agent.service import AssistantService
from assistant.errors import StorageError
from assistant.storage.database import Database, alembic_config
from assistant.tools.context import User

WRITERS = 50
WRITES_EACH = 20
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _answer(text: str) -> Answer:
    citation = Citation(n=1, chunk_id="c1", doc_id="d", title="t", source="guideline", quote="q")
    return Answer(answer=text, mode="offline", citations=[citation], tool_calls=[], conversation_id="x", grounded=True)


def _hammer(store: ConversationStore) -> list[BaseException]:
    """50 threads, each starting a conversation and writing turns and feedback into it at once."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        start.wait()
        try:
            conversation = f"load-{n}"
            assert store.claim(conversation, f"user-{n}")
            for i in range(WRITES_EACH):
                store.add_turn(conversation, f"user-{n}", f"问题 {i}", _answer(f"回答 {n}-{i}"), "P-2025-001", "主题")
                store.add_feedback(conversation, f"user-{n}", "up" if i % 2 else "down", "", f"问题 {i}", "", [])
            assert len(store.history(conversation, f"user-{n}", limit=100)) == WRITES_EACH
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))
    return errors


def test_fifty_concurrent_sqlite_writers_lose_nothing(tmp_path):
    store = ConversationStore(Database(f"sqlite:///{tmp_path / 'conversations.sqlite3'}"))
    errors = _hammer(store)
    assert not errors, [str(e) for e in errors[:3]]  # in particular no "database is locked"
    assert store.count() == {"conversations": WRITERS, "turns": WRITERS * WRITES_EACH, "feedback": WRITERS * WRITES_EACH}


def test_fifty_concurrent_postgres_writers_lose_nothing(postgres_url):
    store = ConversationStore(Database(postgres_url))
    errors = _hammer(store)
    assert not errors, [str(e) for e in errors[:3]]
    assert store.count() == {"conversations": WRITERS, "turns": WRITERS * WRITES_EACH, "feedback": WRITERS * WRITES_EACH}
    store.database.dispose()


def test_sqlite_is_in_wal_mode_and_migrated_by_alembic(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    ConversationStore(Database(f"sqlite:///{path}"))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        assert {"turns", "feedback", "conversations"} <= {r[0] for r in db.execute("SELECT name FROM sqlite_master")}


def test_postgres_schema_is_migrated_by_alembic(postgres_url):
    Database(postgres_url).dispose()
    Database(postgres_url).dispose()  # a second start finds the schema current
    engine = create_engine(postgres_url)
    with engine.connect() as db:
        assert db.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
        assert {"turns", "feedback", "conversations"} <= set(inspect(db).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_build_exactly_the_tables_the_store_uses(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    database.dispose()


def test_a_database_made_before_migrations_is_adopted_with_its_turns(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    with sqlite3.connect(path) as db:  # the schema the first releases created with CREATE TABLE IF NOT EXISTS
        db.executescript(
            "CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, user TEXT NOT NULL,"
            " question TEXT NOT NULL, answer TEXT NOT NULL, mode TEXT NOT NULL, grounded INTEGER NOT NULL,"
            " citations TEXT NOT NULL, tool_calls TEXT NOT NULL, project_id TEXT, topic TEXT, created_at TEXT NOT NULL);"
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT, user TEXT NOT NULL,"
            " rating TEXT NOT NULL, comment TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,"
            " citations TEXT NOT NULL, created_at TEXT NOT NULL);"
            "INSERT INTO turns VALUES (1, 'old', 'alice', '问', '答', 'offline', 1, '[]', '[]', 'P-2025-002', NULL, '2026-01-01');"
        )
    store = ConversationStore(Database(f"sqlite:///{path}"))
    assert [t.project_id for t in store.history("old", "alice")] == ["P-2025-002"]
    assert store.owns("old", "alice") and not store.claim("old", "bob")


@pytest.fixture
def api(tmp_path, shipped_settings, shipped_index):
    from assistant.surfaces.api import create_app

    settings = shipped_settings.model_copy(update={"data_dir": tmp_path, "database_url": SecretStr("")})  # SQLite
    service = AssistantService(settings, index=shipped_index)
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as client:
        yield client, settings


def test_deleted_database_is_recreated_without_restart(api):
    client, settings = api
    assert client.post("/api/chat", json={"question": "什么是专利导航？"}).status_code == 200
    settings.conversations_db.unlink()
    answer = client.post("/api/chat", json={"question": "P-2025-002 能进入立项吗？"})
    assert answer.status_code == 200
    follow_up = client.post("/api/chat", json={"question": "那它还缺什么？", "conversation_id": answer.json()["conversation_id"]})
    assert follow_up.status_code == 200 and follow_up.json()["tool_calls"][0]["args"]["project_id"] == "P-2025-002"
    assert settings.conversations_db.exists()


def test_corrupt_database_is_a_503_naming_the_file_until_it_is_moved_away(api):
    client, settings = api
    assert client.post("/api/chat", json={"question": "什么是专利导航？"}).status_code == 200
    client.app.state.service.store.database.dispose()
    for suffix in ("", "-wal", "-shm"):
        settings.conversations_db.with_name(settings.conversations_db.name + suffix).unlink(missing_ok=True)
    settings.conversations_db.write_bytes(b"this is not a database" * 100)
    for _ in range(2):  # stays a clear 503, never a 500
        response = client.post("/api/chat", json={"question": "什么是专利导航？"})
        assert response.status_code == 503
        assert str(settings.conversations_db) in response.json()["detail"]
    settings.conversations_db.unlink()  # what the message tells the operator to do
    assert client.post("/api/chat", json={"question": "什么是专利导航？"}).status_code == 200


def test_unreachable_postgres_is_a_storage_error_without_the_password():
    with pytest.raises(StorageError) as error:
        Database("postgresql+psycopg://linkage:s3cret@127.0.0.1:9/linkage")
    assert "127.0.0.1:9/linkage" in str(error.value) and "s3cret" not in str(error.value)


@pytest.mark.parametrize("url", ["not a url", "mysql+nosuchdriver://u:pw@h/db"])
def test_a_bad_database_url_is_a_storage_error_naming_the_setting(url):
    with pytest.raises(StorageError, match="LINKAGE_DATABASE_URL 无效") as error:
        Database(url)
    assert "pw" not in str(error.value)


def test_two_replicas_share_conversations_through_postgres(postgres_url, shipped_settings, shipped_index):
    """A follow-up answered by another API process resolves against the first one's turn."""
    settings = shipped_settings.model_copy(update={"database_url": SecretStr(postgres_url)})
    first, second = AssistantService(settings, index=shipped_index), AssistantService(settings, index=shipped_index)
    asked = first.ask("P-2025-002 能进入立项吗？", User(name="alice", groups=None))
    follow_up = second.ask("那它还缺什么？", User(name="alice", groups=None), asked.conversation_id)
    assert follow_up.tool_calls[0].args["project_id"] == "P-2025-002"
    first.record_feedback(User(name="alice"), asked.conversation_id, "up")
    assert [f["rating"] for f in second.store.feedback(asked.conversation_id)] == ["up"]
    for service in (first, second):
        service.store.database.dispose()
