"""Shared fixtures in two tiers.

Fast tier (default): the shipped corpus indexed once per session with the deterministic
``hashing`` embedder: real Chroma, real BM25, no model. Slow tier (``-m slow``): the same corpus
with the real default model (e5-small), for tests about retrieval and answer quality.
Every test runs offline: ``LINKAGE_LLM_*`` from the shell never reaches a test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# read before the autouse fixture below clears every LINKAGE_ variable (.ci/run starts this server)
TEST_DATABASE_URL = os.environ.get("LINKAGE_TEST_DATABASE_URL", "")

import pytest
from pydantic import SecretStr
from sqlalchemy.pool import NullPool

from assistant.index import KnowledgeIndex
from assistant.settings import Settings
from assistant.tools.context import ToolContext


@pytest.fixture(autouse=True)
def _offline_unless_a_test_configures_a_model(monkeypatch):
    """A developer's exported LLM settings must not turn offline tests into calls to that model."""
    for name in list(os.environ):
        if name.startswith("LINKAGE_"):
            monkeypatch.delenv(name)
    from assistant.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _indexed(settings: Settings) -> KnowledgeIndex:
    index = KnowledgeIndex(settings)
    report = index.sync()
    assert not report.errors, report.errors
    return index


@pytest.fixture(scope="session")
def session_database_url() -> Iterator[str]:
    """Where the fast tier keeps conversations: PostgreSQL when a test server is given (CI), else SQLite."""
    if not TEST_DATABASE_URL:
        yield ""
        return
    with _scratch_schema("session") as url:
        yield url


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory, session_database_url) -> Settings:
    """Settings with a private data dir, the fast embedder, the shipped corpus and prompts."""
    return Settings(data_dir=tmp_path_factory.mktemp("linkage-data"), embedding_backend="hashing",
                    database_url=SecretStr(session_database_url), _env_file=None)


@pytest.fixture(scope="session")
def shipped_index(shipped_settings) -> KnowledgeIndex:
    """The shipped corpus, indexed once for the whole session with the fast embedder."""
    return _indexed(shipped_settings)


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory) -> Settings:
    """Settings for the slow tier: the embedded default model, as a user runs it."""
    return Settings(data_dir=tmp_path_factory.mktemp("linkage-real"), _env_file=None)


@pytest.fixture(scope="session")
def real_index(real_settings) -> KnowledgeIndex:
    """The shipped corpus indexed with the real default model (about 40 s on 2 cores)."""
    return _indexed(real_settings)


@contextmanager
def _scratch_schema(prefix: str) -> Iterator[str]:
    """A new schema on the test PostgreSQL server; yields a URL whose search_path is that schema."""
    from sqlalchemy import create_engine, make_url, text

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server named by LINKAGE_TEST_DATABASE_URL (skipped without one)."""
    if not TEST_DATABASE_URL:
        pytest.skip("没有 PostgreSQL：设置 LINKAGE_TEST_DATABASE_URL（.ci/run 会启动一个临时服务器）")
    with _scratch_schema("test") as url:
        yield url


@pytest.fixture
def chroma_url(tmp_path) -> Iterator[str]:
    """A fresh Chroma server (`chroma run`) for one test; yields its URL."""
    from http_servers import chroma_server

    with chroma_server(tmp_path / "chroma-server") as url:
        yield url


@pytest.fixture
def admin_ctx(shipped_settings, shipped_index) -> ToolContext:
    """A tool context for the local administrator over the shipped index."""
    return ToolContext(shipped_settings, _index=shipped_index)


@pytest.fixture
def real_ctx(real_settings, real_index) -> ToolContext:
    """The local administrator over the real-model index (slow tier)."""
    return ToolContext(real_settings, _index=real_index)


@pytest.fixture
def cli(shipped_settings, shipped_index, monkeypatch):
    """Invoke `linkage …` in-process against the session index; returns the typer result."""
    from typer.testing import CliRunner

    from assistant.settings import get_settings
    from assistant.surfaces.cli import app

    monkeypatch.setenv("LINKAGE_DATA_DIR", str(shipped_settings.data_dir))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    if shipped_settings.database_url.get_secret_value():
        monkeypatch.setenv("LINKAGE_DATABASE_URL", shipped_settings.database_url.get_secret_value())
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()
