"""`linkage serve|slack|dingtalk`: help names the settings; a missing secret is one line and exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from assistant.settings import get_settings
from assistant.surfaces.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path):
    """No .env file and no bot secrets from the environment; settings read afresh."""
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DINGTALK_CLIENT_ID",
                 "DINGTALK_CLIENT_SECRET", "API_KEYS", "ALLOW_ANONYMOUS"):
        monkeypatch.delenv(f"LINKAGE_{name}", raising=False)
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("command, settings", [
    ("serve", ["LINKAGE_API_KEYS", "LINKAGE_SLACK_SIGNING_SECRET", "LINKAGE_DINGTALK_ROBOT_SECRET"]),
    ("slack", ["LINKAGE_SLACK_BOT_TOKEN", "LINKAGE_SLACK_APP_TOKEN", "LINKAGE_SLACK_USER_GROUPS"]),
    ("dingtalk", ["LINKAGE_DINGTALK_CLIENT_ID", "LINKAGE_DINGTALK_CLIENT_SECRET", "LINKAGE_DINGTALK_STAFF_GROUPS"]),
])
def test_help_names_the_settings(command, settings):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    for name in settings:
        assert name in flat


def test_slack_without_tokens_is_a_one_line_error():
    result = runner.invoke(app, ["slack"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "LINKAGE_SLACK_BOT_TOKEN" in lines[0] and "LINKAGE_SLACK_APP_TOKEN" in lines[0]


def test_slack_with_only_the_bot_token_names_the_app_token(monkeypatch):
    monkeypatch.setenv("LINKAGE_SLACK_BOT_TOKEN", "xoxb-1")
    result = runner.invoke(app, ["slack"])
    assert result.exit_code == 2
    assert "LINKAGE_SLACK_APP_TOKEN" in result.output and "LINKAGE_SLACK_BOT_TOKEN" not in result.output


def test_dingtalk_without_credentials_is_a_one_line_error():
    result = runner.invoke(app, ["dingtalk"])
    assert result.exit_code == 2
    assert "LINKAGE_DINGTALK_CLIENT_SECRET" in result.output and len(result.output.strip().splitlines()) == 1


def test_serve_refuses_to_start_with_no_way_in(monkeypatch):
    monkeypatch.setenv("LINKAGE_ALLOW_ANONYMOUS", "false")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "LINKAGE_API_KEYS" in result.output
