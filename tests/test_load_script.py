"""`python -m evals.load` measures what it claims: every endpoint answered, rates and percentiles from real requests."""

from __future__ import annotations

import pytest

from assistant.agent.service import AssistantService
from assistant.surfaces.api import create_app
from evals import load
from http_servers import serve_app


def test_load_script_measures_each_endpoint(shipped_settings, shipped_index):
    service = AssistantService(shipped_settings, index=shipped_index)
    with serve_app(create_app(shipped_settings, service)) as url:
        names = list(load.endpoints(["x"]))
        rows = load.run(url, names, [2], 1.0, {})
    assert [r.endpoint for r in rows] == names
    for row in rows:
        assert row.ok > 0 and row.failed == 0, row.summary()
        assert len(row.latencies) == row.ok and row.rate == pytest.approx(row.ok / row.seconds)
        assert 0 < row.percentile(50) <= row.percentile(95) <= row.percentile(99)


def test_load_script_refuses_anything_but_loopback():
    with pytest.raises(SystemExit, match="127.0.0.1"):
        load.main(["--url", "http://example.com:8000"])
