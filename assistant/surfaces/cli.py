"""`linkage` command line. The CLI user is the local administrator unless --as-groups says otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant.errors import LinkageError
from assistant.settings import get_settings
from assistant.tools.context import ToolContext, User
from assistant.tools.search import SOURCES, search_knowledge, update_index

app = typer.Typer(
    help="联动助手：技术、专利和标准联动工作的检索增强助手。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


def _context(as_groups: str | None = None) -> ToolContext:
    settings = get_settings()
    if as_groups is None:
        return ToolContext(settings)
    groups = [g.strip() for g in as_groups.split(",") if g.strip()]
    return ToolContext(settings, User(name="cli", groups=groups))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn domain errors into one clear line and exit code 2 — never a traceback."""
    try:
        yield
    except (LinkageError, ValueError, PermissionError) as exc:
        err_console.print(f"[red]错误：[/red]{escape(str(exc))}")
        raise typer.Exit(2) from None


AsGroups = Annotated[
    Optional[str], typer.Option("--as-groups", help="以这些用户组（逗号分隔）的身份查询；默认是本地管理员，可见全部项目记录。")
]


@app.command()
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="要加入索引的文件或文件夹（PDF、DOCX、Markdown、TXT、HTML、YAML 项目记录）。")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="清空后重建索引。")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出结果。")] = False,
) -> None:
    """索引随附语料以及给定的文件/文件夹（增量：未变化的文件跳过，已删除的文件移出索引）。"""
    from assistant.index.store import report_dict

    with user_errors():
        ctx = _context()
        show_bar = sys.stderr.isatty() and not as_json
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, disable=not show_bar, transient=True,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(description: str, completed: int, total: int) -> None:
                if description not in tasks:
                    tasks[description] = bar.add_task(description, total=total)
                bar.update(tasks[description], completed=completed, total=total)

            report = update_index(ctx, paths or [], rebuild=rebuild, progress=progress)
    if as_json:
        print(json.dumps(report_dict(report), ensure_ascii=False, indent=2))
    else:
        console.print(
            f"新增 {len(report.added)} 个文件，更新 {len(report.updated)} 个，移除 {len(report.removed)} 个，"
            f"未变化 {report.unchanged} 个；新生成向量 {report.chunks_embedded} 段，复用 {report.chunks_reused} 段；"
            f"索引共 {report.total_chunks} 段。"
        )
    for error in report.errors:
        err_console.print(f"[yellow]跳过：[/yellow]{escape(str(error))}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="问题或关键词。")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="返回条数。")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
    source: Annotated[Optional[str], typer.Option("--source", help=f"只检索某类来源：{'|'.join(SOURCES)}。")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid | dense | bm25")] = "hybrid",
    as_groups: AsGroups = None,
) -> None:
    """检索知识库，返回带条款引用的片段。"""
    with user_errors():
        if not query.strip():
            raise ValueError("检索内容不能为空")
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError("--mode 只能是 hybrid、dense 或 bm25")
        hits = search_knowledge(_context(as_groups), query, k=k, source=source, mode=mode)
    if as_json:
        print(json.dumps({"hits": [h.to_json() for h in hits]}, ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("没有找到相关内容。可以换个说法，或用 `linkage index 文件` 加入相关文档。")
    for n, hit in enumerate(hits, 1):
        console.print(f"[bold cyan][{n}] {escape(hit.citation)}[/bold cyan]  [dim]{hit.score:.4f}[/dim]")
        console.print(escape(hit.text if len(hit.text) <= 300 else hit.text[:300] + "…"), highlight=False)
        console.print()


def main() -> None:  # pragma: no cover - console-script shim
    app()


eval_app = typer.Typer(help="评测：检索质量与回答质量。", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    min_recall_at_5: Annotated[float, typer.Option(help="混合检索 recall@5 的最低要求。")] = 0.9,
    min_recall_at_1: Annotated[float, typer.Option(help="混合检索 recall@1 的最低要求。")] = 0.0,
    min_mrr: Annotated[float, typer.Option(help="混合检索 MRR 的最低要求。")] = 0.0,
    show_misses: Annotated[bool, typer.Option("--show-misses", help="列出混合检索前 5 条未命中的问题。")] = False,
) -> None:
    """对 evals/retrieval.yaml 中的问题比较 bm25、dense、hybrid 三种检索（先增量更新索引）。"""
    from rich.table import Table

    from evals.retrieval import evaluate, load_questions, misses

    with user_errors():
        ctx = _context()
        update_index(ctx)
        questions = load_questions()
        with Progress(
            TextColumn("检索评测"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, disable=not sys.stderr.isatty(), transient=True,
        ) as bar:
            task = bar.add_task("eval", total=len(questions))
            scores = evaluate(ctx, questions, on_step=lambda: bar.advance(task))
    table = Table(title=f"检索评测（{len(questions)} 个问题）")
    for column in ("模式", "recall@1", "recall@5", "MRR"):
        table.add_column(column, justify="right" if column != "模式" else "left")
    for mode, score in scores.items():
        table.add_row(mode, f"{score.recall_at_1:.3f}", f"{score.recall_at_5:.3f}", f"{score.mrr:.3f}")
    console.print(table)
    hybrid = scores["hybrid"]
    if show_misses:
        for question in misses(questions, hybrid):
            console.print(f"未命中：{escape(question.q)} → {question.doc} {question.clause or question.section}")
    failed = [
        f"{name} {value:.3f} < {limit}"
        for name, value, limit in (
            ("recall@5", hybrid.recall_at_5, min_recall_at_5),
            ("recall@1", hybrid.recall_at_1, min_recall_at_1),
            ("MRR", hybrid.mrr, min_mrr),
        )
        if value < limit
    ]
    if failed:
        err_console.print("[red]未达到阈值：[/red]" + "；".join(failed))
        raise typer.Exit(1)
