"""Indexing reports name the files that failed to load, in `linkage index --json` and `POST /api/index`.

A malformed PDF and DOCX sit in an indexed folder; every run (not only the first) must answer with
the files and the reasons, while the rest of the index stays usable. Own data dir: the folder stays
registered, and the shared session index must not carry it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.agent.service import AssistantService
from assistant.settings import ApiUser, Settings
from assistant.surfaces.api import create_app


@pytest.fixture
def broken_folder(tmp_path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R")
    (folder / "not-a-zip.docx").write_bytes(b"PK\x03\x04 this is not really a Word file")
    return folder


def assert_reports_failures(report: dict, folder: Path) -> None:
    failed = {Path(e["file"]).name: e["reason"] for e in report["errors"]}
    assert set(failed) == {"truncated.pdf", "not-a-zip.docx"}
    assert all(reason.strip() for reason in failed.values())
    assert all(str(folder) in e["file"] for e in report["errors"])
    assert report["total_chunks"] > 0  # the shipped corpus is still indexed


def test_index_json_lists_failed_files_every_time(tmp_path, broken_folder, monkeypatch):
    from typer.testing import CliRunner

    from assistant.settings import get_settings
    from assistant.surfaces.cli import app

    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    get_settings.cache_clear()
    for args in (["index", str(broken_folder), "--json"], ["index", "--json"]):  # the folder stays registered
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output  # files failed: the report still comes, the exit says so
        assert_reports_failures(json.loads(result.stdout), broken_folder)


def test_api_index_lists_failed_files_every_time(tmp_path, broken_folder):
    settings = Settings(data_dir=tmp_path / "data", embedding_backend="hashing", _env_file=None,
                        api_keys={"k-admin": ApiUser(user="root", admin=True)})
    client = TestClient(create_app(settings, AssistantService(settings)))
    admin = {"Authorization": "Bearer k-admin"}
    for body in ({"paths": [str(broken_folder)]}, {}):
        response = client.post("/api/index", json=body, headers=admin)
        assert response.status_code == 200, response.text
        assert_reports_failures(response.json(), broken_folder)
