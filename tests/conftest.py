"""Shared fixtures: one real index of the shipped corpus per test session (real Chroma, real e5)."""

from __future__ import annotations

import os

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from assistant.index import KnowledgeIndex
from assistant.settings import Settings
from assistant.tools.context import ToolContext


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory) -> Settings:
    """Settings with a private data dir; the shipped corpus and prompts as they are in the repo."""
    return Settings(data_dir=tmp_path_factory.mktemp("linkage-data"), _env_file=None)


@pytest.fixture(scope="session")
def shipped_index(shipped_settings) -> KnowledgeIndex:
    """The shipped corpus, indexed once for the whole session."""
    index = KnowledgeIndex(shipped_settings)
    report = index.sync()
    assert not report.errors, report.errors
    return index


@pytest.fixture
def admin_ctx(shipped_settings, shipped_index) -> ToolContext:
    """A tool context for the local administrator over the shipped index."""
    return ToolContext(shipped_settings, _index=shipped_index)


@pytest.fixture
def cli(shipped_settings, shipped_index, monkeypatch):
    """Invoke `linkage …` in-process against the session index; returns the typer result."""
    from typer.testing import CliRunner

    from assistant.settings import get_settings
    from assistant.surfaces.cli import app

    monkeypatch.setenv("LINKAGE_DATA_DIR", str(shipped_settings.data_dir))
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()
