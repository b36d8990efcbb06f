"""The multi-node deployment of docs/deploy.md on one machine: two API processes, one Chroma server
(`chroma run`, from the chromadb package), one PostgreSQL.

Each replica is a real `linkage serve` process on 127.0.0.1 with its own data dir, as separate
machines behind a load balancer would be. Needs the PostgreSQL test server
(LINKAGE_TEST_DATABASE_URL, started by `.ci/run`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx

from assistant.index import KnowledgeIndex
from http_servers import free_port, server_process

ALICE = {"Authorization": "Bearer k-alice"}
BOB = {"Authorization": "Bearer k-bob"}


@contextmanager
def replica(env: dict[str, str]) -> Iterator[str]:
    """`linkage serve` in its own process; yields its base URL once /readyz answers 200."""
    port = free_port()
    command = [sys.executable, "-c", "from assistant.surfaces.cli import app; app()", "serve", "--port", str(port)]
    with server_process(command, port, "/readyz", "linkage serve", env) as url:
        yield url


def test_two_api_processes_on_one_chroma_server_and_one_postgres(postgres_url, chroma_url, shipped_settings, tmp_path):
    indexer = KnowledgeIndex(shipped_settings.model_copy(update={"data_dir": tmp_path / "indexer", "chroma_url": chroma_url}))
    assert not indexer.sync().errors and indexer.count() > 100  # `linkage index` run once, from any machine
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")} | {
        "LINKAGE_CHROMA_URL": chroma_url,
        "LINKAGE_EMBEDDING_BACKEND": "hashing",
        "LINKAGE_DATABASE_URL": postgres_url,
        "LINKAGE_ALLOW_ANONYMOUS": "false",
        "LINKAGE_API_KEYS": json.dumps({"k-alice": {"user": "alice", "groups": ["研发部"]},
                                        "k-bob": {"user": "bob", "groups": ["研发部"]}}),
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH", "")])),
    }
    with ExitStack() as stack:
        first, second = (stack.enter_context(replica(env | {"LINKAGE_DATA_DIR": str(tmp_path / name)})) for name in ("r1", "r2"))
        asked = httpx.post(first + "/api/chat", json={"question": "P-2025-002 能进入立项吗？"}, headers=ALICE, timeout=60).json()
        follow_up = httpx.post(second + "/api/chat", headers=ALICE, timeout=60,
                               json={"question": "那它还缺什么？", "conversation_id": asked["conversation_id"]})
        assert follow_up.status_code == 200, follow_up.text
        assert follow_up.json()["tool_calls"][0]["args"]["project_id"] == "P-2025-002"
        refused = httpx.post(second + "/api/chat", headers=BOB, timeout=60,
                             json={"question": "那它还缺什么？", "conversation_id": asked["conversation_id"]})
        assert refused.status_code == 404

        question = {"question": "标准必要专利的许可声明有哪些要求？"}
        answers = [httpx.post(url + "/api/chat", json=question, headers=ALICE, timeout=60).json() for url in (first, second)]
        assert answers[0]["citations"] and answers[0]["answer"] == answers[1]["answer"]
        assert [c["chunk_id"] for c in answers[0]["citations"]] == [c["chunk_id"] for c in answers[1]["citations"]]
