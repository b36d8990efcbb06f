"""`python -m evals.load` measures what it claims: every endpoint answered, rates and percentiles from real requests."""

from __future__ import annotations

import os

import pytest

from assistant.agent.service import AssistantService
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
