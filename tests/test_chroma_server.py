"""The service on a Chroma server (`LINKAGE_CHROMA_URL`, a real `chroma run`), as API replicas use it.

An indexer with its own data dir writes the server; a replica with another data dir, reading the
same corpus folder (a shared mount, as docs/deploy.md says), answers from it exactly as the
embedded index does and follows a re-index made elsewhere on its next request.
"""

from __future__ import annotations

import shutil

import pytest

from assistant.agent.service import AssistantService
from assistant.errors import UnknownProjectError
from assistant.index import KnowledgeIndex
from assistant.settings import SHIPPED_CORPUS
from assistant.tools.context import User
from http_servers import chroma_server

ADMIN = User(name="ops", groups=None, admin=True)
WIRELESS = User(name="wl", groups=["无线研究院"])
QUESTIONS = ["必要专利的许可声明有哪几种选择？", "P-2025-002 能进入立项吗？", "联动指南规定的工作流程包括哪些阶段？"]


@pytest.fixture(scope="module")
def on_server(shipped_settings, tmp_path_factory):
    """(indexer, replica service, the corpus folder both read) sharing one Chroma server; the tests
    below run in file order on it, the one that changes the most last."""
    tmp_path = tmp_path_factory.mktemp("on-server")
    corpus = tmp_path / "shared-corpus"
    shutil.copytree(SHIPPED_CORPUS, corpus)
    with chroma_server(tmp_path / "chroma-server") as url:
        shared = {"chroma_url": url, "corpus_dir": corpus}
        indexer = KnowledgeIndex(shipped_settings.model_copy(update={"data_dir": tmp_path / "indexer", **shared}))
        assert not indexer.sync().errors and indexer.count() > 100
        replica = AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path / "replica", **shared}))
        yield indexer, replica, corpus


def _revoke_wireless(corpus) -> None:
    record = corpus / "records" / "P-2025-001.yaml"
    record.write_text(record.read_text(encoding="utf-8").replace(
        "access: [无线研究院, 知识产权部, 标准化部, 管理层]", "access: [知识产权部, 标准化部, 管理层]"), encoding="utf-8")


def test_a_replica_answers_like_the_embedded_index_and_follows_a_revocation_at_once(on_server, shipped_settings, shipped_index):
    indexer, replica, corpus = on_server
    embedded = AssistantService(shipped_settings, index=shipped_index)
    for question in QUESTIONS:
        remote, local = replica.ask(question, ADMIN), embedded.ask(question, ADMIN)
        assert remote.citations and remote.answer == local.answer, question
        cited = [[(c.doc_id, c.clause, c.quote) for c in answer.citations] for answer in (remote, local)]
        assert cited[0] == cited[1]  # chunk ids differ: they include the corpus folder's path

    assert replica.get_project(WIRELESS, "P-2025-001").id == "P-2025-001"
    _revoke_wireless(corpus)
    assert not indexer.sync().errors  # `linkage index` on another machine
    with pytest.raises(UnknownProjectError):
        replica.get_project(WIRELESS, "P-2025-001")
    assert all(h.doc_id != "P-2025-001" for h in replica.search(WIRELESS, "P-2025-001 预算 5G基站", k=10))


def test_a_record_indexed_from_another_folder_is_a_project_on_the_replica(on_server, tmp_path):
    """The index state lives on the server, so a replica knows every indexed record file (it reads the
    file itself: the folder must be mounted at the same path on every replica)."""
    indexer, replica, _ = on_server
    folder = tmp_path / "records-elsewhere"
    folder.mkdir()
    (folder / "Z-1.yaml").write_text("id: Z-1\nname: 远程索引的项目\nstage: 构思\naccess: [研发部]\n", encoding="utf-8")
    assert not indexer.sync([folder]).errors
    rd = User(name="rd", groups=["研发部"])
    assert any(h.doc_id == "Z-1" for h in replica.search(rd, "远程索引的项目", k=5))  # the chunks are shared
    assert replica.get_project(rd, "Z-1").name == "远程索引的项目"
