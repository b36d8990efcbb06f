"""The deployment examples (docs/deploy.md, deploy/) only use settings that exist, and parse."""

from __future__ import annotations

import configparser
import re

import yaml

from assistant.settings import PROJECT_ROOT, Settings

SETTINGS = {f"LINKAGE_{name.upper()}" for name in Settings.model_fields}
TEST_ONLY = {"LINKAGE_TEST_DATABASE_URL"}


def documents() -> list:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md")),
            *sorted(p for p in (PROJECT_ROOT / "deploy").rglob("*") if p.is_file())]


def test_every_setting_named_in_docs_and_examples_exists():
    unknown = {
        (path.name, name)
        for path in documents()
        for name in re.findall(r"LINKAGE_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
        if name not in SETTINGS | TEST_ONLY
    }
    assert not unknown


def test_compose_file_has_the_documented_layout():
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    assert {"api", "indexer", "chroma", "postgres", "nginx"} <= set(compose["services"])
    api = compose["services"]["api"]
    assert api["deploy"]["replicas"] >= 2
    assert api["environment"]["LINKAGE_CHROMA_URL"] == "http://chroma:8000"
    assert api["environment"]["LINKAGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert compose["services"]["chroma"]["command"][:2] == ["chroma", "run"]


def test_systemd_units_parse_and_start_our_commands():
    for unit in sorted((PROJECT_ROOT / "deploy" / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(unit.read_text(encoding="utf-8"))
        command = parser["Service"]["ExecStart"].split()
        assert command[0].endswith(("/linkage", "/chroma")) and command[1] in ("serve", "run"), unit.name
