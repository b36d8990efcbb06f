"""The command line speaks Chinese (typer/click's own texts included), fails with non-zero exits,
goes through the service, starts without the heavy stack, and `linkage chat` holds a conversation."""

from __future__ import annotations

import ast
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.settings import get_settings
from assistant.surfaces.cli import app

ENGLISH = ("Usage", "Options", "Arguments", "Commands", "Error", "Missing", "No such", "Try ", "Invalid",
           "Show this message", "<bool>", "[default", "[required]", "Got unexpected")
ROOT = Path(__file__).resolve().parent.parent


def no_english(text: str) -> None:
    found = [word for word in ENGLISH if word in text]
    assert not found, f"English framework text reached the user: {found}\n{text}"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A data dir with no index yet."""
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["index", "--help"], ["projects", "--help"],
                                  ["projects", "show", "--help"], ["chat", "--help"], ["eval", "retrieval", "--help"]])
def test_help_is_chinese_and_flags_read_as_flags(args):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    no_english(result.output)
    assert "用法：" in result.output and "显示帮助并退出" in result.output


def test_search_help_names_types_in_chinese():
    output = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).output
    assert "<整数>" in output and "[默认：5]" in output and "[必填]" in output
    json_line = next(line for line in output.splitlines() if "--json" in line)
    assert "<" not in json_line  # a flag, not `--json <bool>`


@pytest.mark.parametrize("args, message", [
    (["search"], "缺少参数 '问题'"),
    (["search", "许可", "--foo"], "没有这个选项：--foo"),
    (["search", "许可", "-k", "abc"], "'-k' 的值无效：应为整数"),
    (["search", "许可", "-k", "99"], "'-k' 的值无效：不能大于 50"),
    (["serach", "许可"], "没有这个命令：serach"),
    (["search", "许可", "声明"], "多余的参数：声明"),
    (["search", "许可", "--json=yes"], "选项 --json 是开关"),
    (["check"], "缺少参数 '项目编号'"),
    (["draft", "P-2025-001", "--kind"], "选项 --kind 需要一个值"),
])
def test_parsing_errors_are_chinese_with_exit_2(args, message):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert message in result.output
    no_english(result.output)


def test_index_of_a_missing_path_exits_1_and_says_why(cli, tmp_path):
    result = cli("index", str(tmp_path / "不存在"))
    assert result.exit_code == 1
    assert "文件或目录不存在" in result.stderr and "Traceback" not in result.output


def test_ask_and_search_without_an_index_exit_2(fresh):
    for args in (["ask", "许可声明有哪些选择？"], ["search", "许可声明"], ["chat"]):
        result = fresh(*args)
        assert result.exit_code == 2, args
        assert "尚未建立索引" in result.stderr and "linkage index" in result.stderr


@pytest.mark.parametrize("variable, missing", [("LINKAGE_LLM_BASE_URL", "LINKAGE_LLM_MODEL"),
                                               ("LINKAGE_LLM_MODEL", "LINKAGE_LLM_BASE_URL")])
def test_half_configured_llm_is_an_error(cli, monkeypatch, variable, missing):
    monkeypatch.setenv(variable, "http://127.0.0.1:9/v1" if variable.endswith("URL") else "qwen-plus")
    get_settings.cache_clear()
    result = cli("ask", "许可声明有哪些选择？")
    assert result.exit_code == 2
    assert "只配置了一半" in result.stderr and missing in result.stderr


def test_draft_to_an_unwritable_place_is_a_chinese_os_error(cli, tmp_path):
    result = cli("draft", "P-2025-001", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "无法写入" in result.stderr and "这是一个目录" in result.stderr
    no_english(result.stderr)


def test_every_command_goes_through_the_service():
    """The CLI imports no tool module: everything it does is an `AssistantService` call."""
    tree = ast.parse((ROOT / "assistant/surfaces/cli.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {m for m in imported if m.startswith(("assistant.tools.", "assistant.index"))} <= {"assistant.tools.context", "assistant.index"}
    called = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert {"update_index", "search", "list_projects", "get_project", "check_readiness", "draft_proposal", "ask_stream"} <= called


def test_start_up_does_not_load_the_heavy_stack():
    code = ("import sys; from assistant.surfaces.cli import app; "
            "print(sorted(m for m in ('chromadb', 'langchain_core', 'openai', 'bm25s', 'jieba', 'assistant.agent.service') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert out.strip() == "[]"


def test_chat_keeps_the_conversation_and_starts_over_on_request(cli):
    result = CliRunner().invoke(app, ["chat"], input="P-2025-002 能进入立项吗？\n那它还缺什么？\n/新对话\n那它还缺什么？\n")
    assert result.exit_code == 0, result.output
    first, rest = result.stdout.split("【离线模式】")[1:]
    follow_up, after_reset = rest.split("已开始新的对话")[0], result.stdout.strip().splitlines()[-1]
    assert "P-2025-002" in first and "不具备进入「立项」的条件" in first
    assert "P-2025-002" in follow_up and "知识产权检索" in follow_up  # resolved against the first turn
    assert "请说明是哪个项目" in after_reset  # /新对话 forgot the project
    assert "已开始新的对话" in result.stderr and "再见" in result.stderr


def test_chat_ends_cleanly_on_ctrl_c(shipped_settings, shipped_index):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINKAGE_DATA_DIR": str(shipped_settings.data_dir),
           "LINKAGE_EMBEDDING_BACKEND": "hashing"}
    env = {k: v for k, v in env.items() if not k.startswith("LINKAGE_LLM_")}
    chat = subprocess.Popen([sys.executable, "-m", "assistant.surfaces.cli", "chat"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    deadline = time.monotonic() + 60
    banner = ""
    while "联动助手" not in banner and time.monotonic() < deadline:
        banner += chat.stderr.read(1)  # the session is waiting for a question
    chat.send_signal(signal.SIGINT)
    out, err = chat.communicate(timeout=60)
    assert chat.returncode == 0
    assert "再见" in err and "Traceback" not in err


def test_operating_system_reasons_are_chinese(tmp_path):
    from pydantic import BaseModel

    from assistant.errors import DocumentLoadError
    from assistant.ingest.data_files import load_yaml_model

    with pytest.raises(DocumentLoadError) as folder:
        load_yaml_model(tmp_path, BaseModel, "流程文件")  # a folder where a file was expected
    assert "无法读取流程文件（这是一个目录）" in str(folder.value)
    with pytest.raises(DocumentLoadError) as missing:
        load_yaml_model(tmp_path / "无此文件.yaml", BaseModel, "流程文件")
    assert "文件或目录不存在" in str(missing.value)


def test_serve_on_a_taken_port_is_a_chinese_error(fresh):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fresh("serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"端口 {port} 已被占用" in result.stderr
    no_english(result.output)


def test_serve_with_a_half_configured_llm_does_not_start(fresh, monkeypatch):
    monkeypatch.setenv("LINKAGE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()
    result = fresh("serve")
    assert result.exit_code == 2 and "LINKAGE_LLM_MODEL" in result.stderr


def test_an_unexpected_failure_is_one_line_and_the_traceback_is_kept(cli, monkeypatch):
    from assistant.agent.service import AssistantService

    def broken(self, user, stage=None):
        raise KeyError("chroma-internal")

    monkeypatch.setattr(AssistantService, "list_projects", broken)
    result = cli("projects")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "内部错误（KeyError）" in result.stderr
    saved = Path(re.search(r"请把 (\S+) 交给管理员", result.stderr).group(1))
    assert "chroma-internal" in saved.read_text(encoding="utf-8")
    saved.unlink()


def test_chat_goes_on_after_a_bad_question(cli):
    result = CliRunner().invoke(app, ["chat"], input="专利" * 1500 + "\n/退出\n")
    assert result.exit_code == 0
    assert "问题太长" in result.stderr and "再见" in result.stderr and "Traceback" not in result.output
