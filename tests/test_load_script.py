"""`python -m evals.load` measures what it claims: every endpoint answered, rates and percentiles from real requests."""

from __future__ import annotations

import os

import numpy as np
import pytest

from assistant.agent.service import AssistantService
from assistant.index import KnowledgeIndex
from assistant.index.embeddings import HashingEmbedder
from assistant.settings import Settings
from assistant.surfaces.api import create_app
from evals import load
from http_servers import serve_app


def test_load_script_measures_each_endpoint(shipped_settings, shipped_index):
    service = AssistantService(shipped_settings, index=shipped_index)
    embedded: list[str] = []  # every question the server embeds, to see that no row repeats another's
    embed = shipped_index.embedder.embed_query
    shipped_index.embedder.embed_query = lambda text: embedded.append(text) or embed(text)
    try:
        with serve_app(create_app(shipped_settings, service)) as url:
            names = list(load.endpoints(["x"]))
            rows = load.run(url, names, [2], 1.0, {}, server_pid=os.getpid())  # the app serves in this process
    finally:
        del shipped_index.embedder.embed_query
    assert [r.endpoint for r in rows] == names
    for row in rows:
        assert row.ok > 0 and row.failed == 0, row.summary()
        assert len(row.latencies) == row.ok and row.rate == pytest.approx(row.ok / row.seconds)
        assert 0 < row.percentile(50) <= row.percentile(95) <= row.percentile(99)
        assert row.cpu_seconds > 0 and row.summary()["server_cpu_ms_per_req"] > 0 and row.client_cpu_seconds > 0
    # each text embedded once (the query-vector cache would hide a repeat): no row asked another's questions
    assert len(embedded) > 2 * len(rows) and len(set(embedded)) == len(embedded)


def test_load_script_refuses_anything_but_loopback():
    with pytest.raises(SystemExit, match="127.0.0.1"):
        load.main(["--url", "http://example.com:8000"])


def test_untagged_questions_need_a_server_of_its_own():
    """Only a server the script starts can have its query-vector cache turned off."""
    with pytest.raises(SystemExit, match="--untagged"):
        load.main(["--url", "http://127.0.0.1:8000", "--untagged"])


def test_query_cache_off_embeds_every_question(tmp_path):
    """What `--untagged` relies on: with LINKAGE_QUERY_CACHE_SIZE=0 a question asked again is embedded again."""
    embedded: list[str] = []

    class Counting(HashingEmbedder):
        def embed_query(self, text):
            embedded.append(text)
            return super().embed_query(text)

    for size, times in ((1024, 1), (0, 2)):
        settings = Settings(data_dir=tmp_path / str(size), embedding_backend="hashing", query_cache_size=size, _env_file=None)
        index = KnowledgeIndex(settings, embedder=Counting())
        embedded.clear()
        first, again = index.query_vector("必要专利的许可声明"), index.query_vector("必要专利的许可声明")
        assert embedded == ["必要专利的许可声明"] * times and np.array_equal(first, again)
