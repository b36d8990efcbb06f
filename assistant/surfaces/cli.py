"""`linkage` command line. The CLI user is the local administrator unless --as-groups says otherwise.

Every command goes through `AssistantService`, the one front door the HTTP API and the bots use
too. Heavy modules (the service, the index, Chroma, LangChain) are imported inside the commands,
so `linkage --help` and mistyped commands answer at once.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from assistant.errors import ConfigurationError, IndexNotReadyError, LinkageError, os_reason
from assistant.settings import get_settings, require_complete_llm
from assistant.surfaces.cli_chinese import ChineseCommand, ChineseGroup
from evals.thresholds import TEST_FACT_RECALL, TEST_FALSE_REFUSALS, TEST_MISSED_REFUSALS

if TYPE_CHECKING:
    from assistant.agent.models import Answer
    from assistant.agent.service import AssistantService
    from assistant.tools.context import User

app = typer.Typer(
    cls=ChineseGroup,
    help="联动助手：技术、专利和标准联动工作的检索增强助手。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

TOOL_NAMES = {
    "search_knowledge": "检索知识库",
    "list_projects": "查看项目列表",
    "get_project": "读取项目记录",
    "check_readiness": "检查阶段就绪情况",
    "draft_proposal": "起草立项材料",
    "explain_stage": "查阅工作流程",
}


def os_error_text(exc: OSError) -> str:
    return f"{exc.filename}：{os_reason(exc)}" if exc.filename else os_reason(exc)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return f"uid{os.getuid()}"


def _user(as_groups: str | None = None) -> User:
    """The local administrator, or a user of ``as_groups``; the name is the identity conversations belong to."""
    from assistant.tools.context import User

    if as_groups is None:
        return User(name=f"cli:{_os_user()}", groups=None, admin=True)
    groups = sorted({g.strip() for g in as_groups.split(",") if g.strip()})
    return User(name=f"cli:{_os_user()}[{','.join(groups)}]", groups=groups)


def _service() -> AssistantService:
    """The service over the configured data dir; a half-configured LLM is an error, not offline."""
    from assistant.agent.service import AssistantService

    settings = get_settings()
    require_complete_llm(settings)
    return AssistantService(settings)


def _require_index(service: AssistantService) -> None:
    if not service.index_ready():
        raise IndexNotReadyError("知识库尚未建立索引：请先运行 `linkage index`。")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn domain, settings and OS errors into one clear Chinese line and exit code 2 — never a traceback.

    Anything unexpected (a bug) ends with exit code 1 and one line saying where its traceback was written.
    """
    from pydantic import ValidationError

    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except (LinkageError, ValueError, PermissionError) as exc:
        if isinstance(exc, ValidationError):
            names = "、".join("LINKAGE_" + str(e["loc"][0]).upper() for e in exc.errors() if e.get("loc"))
            message = f"配置有误，请检查 {names or '环境变量'}。"
        elif isinstance(exc, PermissionError) and exc.errno is not None:
            message = os_error_text(exc)
        else:
            message = str(exc)
        _fail(message)
    except OSError as exc:
        _fail(os_error_text(exc))
    except Exception as exc:
        _fail(f"内部错误（{type(exc).__name__}），请重试；若仍出错，请把 {_save_traceback()} 交给管理员。", code=1)


def _save_traceback() -> str:
    """The current exception's traceback in a temporary file, for whoever fixes it."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="linkage-error-", suffix=".txt", delete=False, encoding="utf-8") as file:
        traceback.print_exc(file=file)
    return file.name


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]错误：[/red]{escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


AsGroups = Annotated[
    Optional[str], typer.Option("--as-groups", metavar="用户组", help="以这些用户组（逗号分隔）的身份查询；默认是本地管理员，可见全部项目记录。")
]
AsJson = Annotated[bool, typer.Option("--json", help="以 JSON 输出。")]


@app.command(cls=ChineseCommand)
def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="路径", help="要加入索引的文件或文件夹（PDF、DOCX、Markdown、TXT、HTML、XLSX/CSV 表格与项目台账、YAML 项目记录）。", show_default=False)] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="清空后重建索引。")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="全面检查并修复索引（向量库、BM25 文件与索引状态逐一核对；无法读取的向量库移到一旁后重建）。")] = False,
    as_json: AsJson = False,
) -> None:
    """索引随附语料以及给定的文件/文件夹（增量：未变化的文件跳过，已删除的文件移出索引）。

    同一数据目录同时只有一个索引进程写入（另一个会等待）；被中断（含 kill -9）后再次运行即恢复一致。

    有文件无法读取时，其余文件照常索引，逐个说明原因，退出码为 1。
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from assistant.index import report_dict

    with user_errors():
        service = _service()
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

            report = service.update_index(_user(), paths or [], rebuild=rebuild, progress=progress, repair=repair)
    if as_json:
        print(json.dumps(report_dict(report), ensure_ascii=False, indent=2))
    else:
        console.print(
            f"新增 {len(report.added)} 个文件，更新 {len(report.updated)} 个，移除 {len(report.removed)} 个，"
            f"未变化 {report.unchanged} 个；新生成向量 {report.chunks_embedded} 段，复用 {report.chunks_reused} 段；"
            f"索引共 {report.total_chunks} 段。"
        )
    for line in report.repaired:
        err_console.print(f"[cyan]修复：[/cyan]{escape(line)}", highlight=False)
    for error in report.errors:
        err_console.print(f"[yellow]跳过：[/yellow]{escape(str(error))}", highlight=False)
    if report.errors:
        raise typer.Exit(1)


@app.command(cls=ChineseCommand)
def search(
    query: Annotated[str, typer.Argument(metavar="问题", help="问题或关键词。", show_default=False)],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="返回条数。")] = 5,
    as_json: AsJson = False,
    source: Annotated[Optional[str], typer.Option("--source", metavar="来源", help="只检索某类来源：guideline（指南）| standard（标准）| record（项目记录）| document（加入的文档）。")] = None,
    mode: Annotated[str, typer.Option("--mode", metavar="方式", help="hybrid（混合）| dense（向量）| bm25（关键词）")] = "hybrid",
    as_groups: AsGroups = None,
) -> None:
    """检索知识库，返回带条款引用的片段。"""
    with user_errors():
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError("--mode 只能是 hybrid、dense 或 bm25")
        service = _service()
        _require_index(service)
        hits = service.search(_user(as_groups), query, k=k, source=source, mode=mode)
    if as_json:
        print(json.dumps({"hits": [h.to_json() for h in hits]}, ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("没有找到相关内容。可以换个说法，或用 `linkage index 文件` 加入相关文档。")
    for n, hit in enumerate(hits, 1):
        console.print(f"[bold cyan][{n}] {escape(hit.citation)}[/bold cyan]  [dim]{hit.score:.4f}[/dim]")
        console.print(escape(hit.text if len(hit.text) <= 300 else hit.text[:300] + "…"), highlight=False)
        console.print()


projects_app = typer.Typer(cls=ChineseGroup, help="项目记录：列出、查看（只显示你所在用户组可见的项目）。", pretty_exceptions_enable=False)
app.add_typer(projects_app, name="projects")

STATUS_MARK = {"met": "[green]✓ 满足[/green]", "partial": "[yellow]◐ 部分[/yellow]", "missing": "[red]✗ 缺少[/red]"}


@projects_app.callback(invoke_without_command=True)
def projects(
    typer_ctx: typer.Context,
    stage: Annotated[Optional[str], typer.Option("--stage", metavar="阶段", help="只列出处于该阶段的项目（如 评估、立项阶段）。")] = None,
    as_json: AsJson = False,
    as_groups: AsGroups = None,
) -> None:
    """列出可见的项目；`linkage projects show 编号` 查看单个项目。"""
    if typer_ctx.invoked_subcommand:
        return
    from rich.table import Table

    with user_errors():
        found = _service().list_projects(_user(as_groups), stage)
    if as_json:
        print(json.dumps({"projects": [p.model_dump() for p in found]}, ensure_ascii=False, indent=2))
        return
    if not found:
        console.print("没有可见的项目。" + ("可以换一个阶段，或去掉 --stage。" if stage else ""))
        return
    table = Table(title=f"项目（{len(found)} 个）")
    for column in ("编号", "名称", "阶段", "部门"):
        table.add_column(column)
    for p in found:
        table.add_row(p.id, escape(p.name), p.stage, escape(p.department))
    console.print(table)


ProjectId = Annotated[str, typer.Argument(metavar="项目编号", help="项目编号，如 P-2025-001。", show_default=False)]


@projects_app.command("show", cls=ChineseCommand)
def projects_show(
    project_id: ProjectId,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出完整记录。")] = False,
    as_groups: AsGroups = None,
) -> None:
    """查看一个项目的记录：概况、目标标准、专利、材料和里程碑。"""
    from rich.table import Table

    with user_errors():
        record = _service().get_project(_user(as_groups), project_id)
    if as_json:
        print(json.dumps(record.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{escape(record.name)}[/bold]（{record.id}）")
    target = record.target_standard
    for label, value in (
        ("承担单位", record.organization),
        ("部门", record.department),
        ("负责人", record.owner),
        ("当前阶段", record.stage),
        ("目标标准", "，".join(v for v in (target.level, target.title, target.body, target.route) if v) if record.targets_standard else "无"),
        ("预算", f"{record.budget.total_wan:g} 万元" if record.budget and record.budget.total_wan is not None else "未填写"),
    ):
        console.print(f"{label}：{escape(value or '未填写')}", highlight=False)
    if record.summary:
        console.print(escape(" ".join(record.summary.split())), highlight=False)
    sections = (
        ("专利", ("专利号", "名称", "状态", "权利人", "涉及目标标准"),
         [(p.number, p.title, p.status, p.owner, "是" if p.reads_on_target_standard else "否") for p in record.patents]),
        ("已有材料", ("类型", "材料", "日期", "状态"), [(e.type, e.title, e.date, e.status) for e in record.evidence]),
        ("里程碑", ("里程碑", "计划完成", "状态"), [(m.name, m.due, m.status) for m in record.milestones]),
    )
    for title, columns, rows in sections:
        if not rows:
            continue
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        for column in table.columns:
            column.overflow = "fold"
        console.print(table)


@app.command(cls=ChineseCommand)
def check(
    project_id: ProjectId,
    stage: Annotated[Optional[str], typer.Option("--stage", metavar="阶段", help="目标阶段；默认是项目的下一阶段。")] = None,
    as_json: AsJson = False,
    as_groups: AsGroups = None,
) -> None:
    """检查项目是否具备进入目标阶段的条件：逐项列出要求、已有材料和依据条款。"""
    from rich.table import Table

    with user_errors():
        report = _service().check_readiness(_user(as_groups), project_id, stage)
    if as_json:
        print(json.dumps(report.model_dump(), ensure_ascii=False, indent=2))
        return
    verdict = "[green]✓ 就绪[/green]" if report.ready else "[red]✗ 未就绪[/red]"
    console.print(f"项目 {report.project_id}：当前阶段「{report.current_stage}」→ 目标阶段「{report.target_stage}」  {verdict}")
    table = Table(show_lines=True)
    table.add_column("", no_wrap=True)
    for column in ("要求", "证据", "依据条款"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        clauses = "\n".join(c.citation for c in item.clauses)
        table.add_row(STATUS_MARK[item.status], escape(item.requirement), escape(item.evidence), escape(clauses))
    console.print(table)
    if report.next_actions:
        console.print("[bold]下一步：[/bold]")
        for n, action in enumerate(report.next_actions, 1):
            console.print(f"{n}. {escape(action)}", highlight=False)


@app.command(cls=ChineseCommand)
def draft(
    project_id: ProjectId,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="类型", help="文稿类型：联动创新项目立项建议书（默认）| 团体标准项目建议书。")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="格式", help="docx | pdf（需安装 LibreOffice）| md")] = "docx",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", metavar="文件", help="输出文件；默认在当前目录按项目编号和文稿类型命名；“-”表示输出到标准输出。")] = None,
    template: Annotated[Optional[Path], typer.Option("--template", metavar="模板", help="本单位的 Word 模板（.docx）：保留其样式、页眉页脚和封面，正文放在“{{正文}}”段落处，并填写 {{项目名称}} 等占位符；默认取 LINKAGE_DRAFT_TEMPLATE。")] = None,
    as_groups: AsGroups = None,
) -> None:
    """根据项目记录起草立项材料；记录中没有的内容标为【待补充】，不会编造。配置了大模型时润色文字（不增加事实）。"""
    with user_errors():
        options = {"kind": kind} if kind else {}
        result = _service().draft_proposal(_user(as_groups), project_id, fmt=fmt, template=template, **options)
        if output is not None and str(output) == "-":
            sys.stdout.buffer.write(result.content)
            sys.stdout.flush()
        else:
            target = output or Path(result.filename)
            try:
                target.write_bytes(result.content)
            except OSError as exc:
                raise ValueError(f"无法写入 {target}：{os_reason(exc)}") from None
            console.print(f"已生成 {escape(str(target))}")
    if result.missing:
        err_console.print(f"[yellow]待补充 {len(result.missing)} 项：[/yellow]")
        for item in result.missing:
            err_console.print(f"- {escape(item)}", highlight=False, soft_wrap=True)


def _answer(service: AssistantService, question: str, user: User, conversation: str | None, project: str | None) -> Answer:
    """Ask through the service; on a terminal, a status line says which tool is running."""
    events = service.ask_stream(question, user, conversation, project)
    with err_console.status("正在思考…") as status:
        for event in events:
            if event.type == "step":
                status.update(f"正在{TOOL_NAMES.get(event.tool or '', event.tool)}…")
            elif event.type == "error":
                raise LinkageError(event.text or "回答失败，请重试。")
            elif event.type == "final" and event.answer:
                return event.answer
    raise LinkageError("回答中断，请重试。")


def _print_answer(answer: Answer) -> None:
    console.print(escape(answer.answer), highlight=False, soft_wrap=True)
    if answer.citations:
        console.print("\n[bold]出处：[/bold]")
        for citation in answer.citations:
            console.print(f"[bold cyan]\\[{citation.n}][/bold cyan] {escape(citation.label or citation.title)}", highlight=False, soft_wrap=True)
            console.print(f"    “{escape(citation.quote)}”", style="dim", highlight=False, soft_wrap=True)


Project = Annotated[Optional[str], typer.Option("--project", metavar="项目编号", help="提问关注的项目编号，如 P-2025-001。")]


@app.command(cls=ChineseCommand)
def ask(
    question: Annotated[str, typer.Argument(metavar="问题", help="问题，例如“联动指南是谁起草的？”。", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出回答、出处和工具调用。")] = False,
    conversation: Annotated[Optional[str], typer.Option("--conversation", metavar="对话编号", help="在这次对话里接着追问。")] = None,
    project: Project = None,
    as_groups: AsGroups = None,
) -> None:
    """提问：配置了大模型时由模型调用工具作答，否则离线从原文抽取作答；每条事实附编号出处。"""
    with user_errors():
        service = _service()
        service.validate_question(question)
        _require_index(service)
        answer = _answer(service, question, _user(as_groups), conversation, project)
    if as_json:
        print(json.dumps(answer.model_dump(), ensure_ascii=False, indent=2))
        return
    _print_answer(answer)
    err_console.print(f"[dim]对话编号 {answer.conversation_id}：用 --conversation {answer.conversation_id} 接着追问。[/dim]", soft_wrap=True)


def _converse(service: AssistantService, user: User, conversation: str | None, project: str | None, interactive: bool) -> None:
    """Question after question in one conversation until /退出; EOF and Ctrl-C propagate to end it."""
    mode = "大模型" if service.mode == "llm" else "离线"
    err_console.print(f"[dim]联动助手（{mode}模式）。输入问题后回车；/新对话 重新开始；/退出 或 Ctrl-D 结束。[/dim]")
    while True:
        question = input("你：" if interactive else "").strip()
        if not question:
            continue
        if question in QUIT:
            break
        if question in NEW_CONVERSATION:
            conversation = None
            err_console.print("[dim]已开始新的对话。[/dim]")
            continue
        try:
            with user_errors():
                answer = _answer(service, question, user, conversation, project)
        except typer.Exit:
            continue  # the error was printed; the session goes on
        conversation = answer.conversation_id
        project = None  # the conversation remembers it from here on
        _print_answer(answer)
        console.print()


NEW_CONVERSATION = ("/新对话", "/new")
QUIT = ("/退出", "/exit", "/quit")


@app.command(cls=ChineseCommand)
def chat(
    project: Project = None,
    conversation: Annotated[Optional[str], typer.Option("--conversation", metavar="对话编号", help="接着已有的对话继续。")] = None,
    as_groups: AsGroups = None,
) -> None:
    """交互式对话：索引和模型只加载一次，可以连续追问（“那它还缺什么？”）。

    输入 /新对话 开始新的对话，/退出、Ctrl-D 或 Ctrl-C 结束。
    """
    with user_errors():
        service = _service()
        _require_index(service)
        user = _user(as_groups)
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401 - line editing and ↑ history for input()
    try:
        _converse(service, user, conversation, project, interactive)
    except (EOFError, KeyboardInterrupt):  # Ctrl-D / Ctrl-C end the session
        if interactive:
            err_console.print()
    err_console.print("[dim]再见。[/dim]")


def main() -> None:  # pragma: no cover - console-script shim
    app()


eval_app = typer.Typer(cls=ChineseGroup, help="评测：检索质量与回答质量。", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def below(mode: str, *checks: tuple[str, float, float]) -> list[str]:
    """``mode name value < limit`` for each (name, value, limit) under its limit."""
    return [f"{mode} {name} {value:.3f} < {limit}" for name, value, limit in checks if value < limit]


def exit_below_thresholds(failed: list[str]) -> None:
    """An evaluation below any threshold ends with exit code 1, saying which."""
    if failed:
        err_console.print("[red]未达到阈值：[/red]" + "；".join(failed))
        raise typer.Exit(1)


@eval_app.command("retrieval", cls=ChineseCommand)
def eval_retrieval(
    min_recall_at_5: Annotated[float, typer.Option(help="混合检索 recall@5 的最低要求。")] = 0.9,
    min_recall_at_1: Annotated[float, typer.Option(help="混合检索 recall@1 的最低要求。")] = 0.0,
    min_mrr: Annotated[float, typer.Option(help="混合检索 MRR 的最低要求。")] = 0.0,
    show_misses: Annotated[bool, typer.Option("--show-misses", help="列出混合检索前 5 条未命中的问题。")] = False,
    min_clause_hit_at_3: Annotated[float, typer.Option(help="条款精确命中率（开发集+测试集，前 3 条含该条款）的最低要求。")] = 0.9,
) -> None:
    """对 evals/retrieval.yaml 中的问题比较 bm25、dense、hybrid 三种检索（先增量更新索引），
    再对 evals/retrieval_clauses.yaml 的文档（在临时数据目录中索引）评测条款精确命中率。"""
    import shutil
    import tempfile

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from evals.retrieval import SPLITS, clause_index, evaluate, evaluate_clauses, load_clause_set, load_questions, misses

    with user_errors():
        service, admin = _service(), _user()
        service.update_index(admin)
        ctx = service.context(admin)
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

    documents, clause_questions = load_clause_set()
    data_dir = Path(tempfile.mkdtemp(prefix="linkage-clause-eval-"))
    try:
        with user_errors(), Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, disable=not sys.stderr.isatty(), transient=True,
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(description: str, completed: int, total: int) -> None:
                if description not in tasks:
                    tasks[description] = bar.add_task(f"条款评测：{description}", total=total)
                bar.update(tasks[description], completed=completed, total=total)

            clause_ctx = clause_index(ctx.settings, documents, data_dir, progress)
            task = bar.add_task("条款评测：检索", total=len(clause_questions))
            clause_score = evaluate_clauses(clause_ctx, clause_questions, on_step=lambda: bar.advance(task))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    table = Table(title=f"条款精确命中（{len(documents)} 份文档，{len(clause_questions)} 个问题，混合检索）")
    for column in ("问题集", "问题数", "hit@3", "recall@5"):
        table.add_column(column, justify="right" if column != "问题集" else "left")
    for split in (*SPLITS, None):
        table.add_row(split or "全部", str(clause_score.count(split)), f"{clause_score.hit_at(3, split):.3f}", f"{clause_score.hit_at(5, split):.3f}")
    console.print(table)
    if show_misses:
        for question in clause_score.misses():
            console.print(f"条款未进前 3：{escape(question.q)} → {question.file} {question.clause}（{question.split}）")
    exit_below_thresholds(below(
        "hybrid", ("recall@5", hybrid.recall_at_5, min_recall_at_5), ("recall@1", hybrid.recall_at_1, min_recall_at_1), ("MRR", hybrid.mrr, min_mrr)
    ) + below("条款", ("hit@3", clause_score.hit_at(3), min_clause_hit_at_3)))


@eval_app.command("answers", cls=ChineseCommand)
def eval_answers(
    min_fact_recall: Annotated[float, typer.Option(help="测试集事实召回率（回答包含应有事实的比例）的最低要求（目标 0.9）。")] = TEST_FACT_RECALL,
    min_citation_validity: Annotated[float, typer.Option(help="引用有效率（引文逐字出现在所引片段中）的最低要求。")] = 1.0,
    max_false_refusal: Annotated[float, typer.Option(help="测试集误拒率（可回答的问题被拒答的比例）的上限（目标 0.05）。")] = TEST_FALSE_REFUSALS,
    max_missed_refusal: Annotated[float, typer.Option(help="测试集漏拒率（应拒答的问题被作答的比例）的上限（目标 0）。")] = TEST_MISSED_REFUSALS,
    split: Annotated[str, typer.Option("--split", help="both（开发集和测试集）| dev | test；阈值只检查测试集")] = "both",
    mode: Annotated[str, typer.Option("--mode", help="auto（离线，配置了大模型时再加 LLM 模式）| offline | llm")] = "auto",
    show_failures: Annotated[bool, typer.Option("--show-failures", help="列出未通过的问题。")] = False,
) -> None:
    """评测回答（开发集 evals/answers.yaml、测试集 evals/answers-test.yaml）：事实召回、引用有效性、误拒与漏拒（先增量更新索引）。"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from evals.answers import eval_service, evaluate, load_split

    with user_errors():
        if mode not in ("auto", "offline", "llm"):
            raise ValueError("--mode 只能是 auto、offline 或 llm")
        if split not in ("both", "dev", "test"):
            raise ValueError("--split 只能是 both、dev 或 test")
        service, admin = _service(), _user()
        ctx = service.context(admin)
        if mode == "llm" and not ctx.settings.llm_configured:
            raise ValueError("没有配置大模型：请设置 LINKAGE_LLM_BASE_URL 和 LINKAGE_LLM_MODEL")
        modes = [mode] if mode != "auto" else ["offline"] + (["llm"] if ctx.settings.llm_configured else [])
        splits = ["dev", "test"] if split == "both" else [split]
        service.update_index(admin)
        questions = {name: load_split(name) for name in splits}
        results = []
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, disable=not sys.stderr.isatty(), transient=True,
        ) as bar:
            for name in modes:
                for part in splits:
                    task = bar.add_task(f"回答评测（{name}，{part}）", total=len(questions[part]))
                    with eval_service(ctx.settings, ctx.index, name) as service:
                        results.append((part, evaluate(service, questions[part], on_step=lambda: bar.advance(task))))
    table = Table(title="回答评测（阈值只检查测试集 test）")
    for column in ("模式", "数据集", "问题数", "事实召回", "引用有效率", "引用数", "每答引用", "误拒率", "漏拒率", "拒答正确率"):
        table.add_column(column, justify="left" if column in ("模式", "数据集") else "right")
    for part, scores in results:
        table.add_row(
            scores.mode, part, str(len(scores.outcomes)), f"{scores.fact_recall:.3f}", f"{scores.citation_validity:.3f}",
            str(scores.citations), f"{scores.citations_per_answer:.2f}", f"{scores.false_refusals:.3f}", f"{scores.missed_refusals:.3f}", f"{scores.refusal_accuracy:.3f}",
        )
    console.print(table)
    failed = []
    for part, scores in results:
        if show_failures:
            for outcome in scores.failures():
                problems = outcome.missing + ([f"{outcome.invalid_citations} 条引用无效"] if outcome.invalid_citations else [])
                if not outcome.refusal_correct:
                    problems.append("应拒答却作答" if outcome.question.refuse else "不应拒答")
                if outcome.error:
                    problems.append(outcome.error)
                console.print(f"\\[{scores.mode}/{part}] {escape(outcome.question.q)} → {escape('；'.join(problems))}", highlight=False)
        if part != "test" and split == "both":
            continue  # the dev split is for tuning; the thresholds judge the held-out test split
        failed += below(
            f"{scores.mode}/{part}",
            ("事实召回", scores.fact_recall, min_fact_recall),
            ("引用有效率", scores.citation_validity, min_citation_validity),
        )
        for name, rate, limit in (("误拒率", scores.false_refusals, max_false_refusal), ("漏拒率", scores.missed_refusals, max_missed_refusal)):
            if rate > limit:
                failed.append(f"{scores.mode}/{part} {name} {rate:.3f} > {limit}")
    exit_below_thresholds(failed)


# ----- surfaces: the HTTP service and the chat bots -----


@app.command(cls=ChineseCommand)
def serve(
    host: Annotated[str, typer.Option("--host", help="监听地址。")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="监听端口。")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="工作进程数。")] = 1,
) -> None:
    """启动 HTTP 服务：网页聊天（/）、JSON API（/api，文档见 /docs）和 OpenAI 兼容接口（/v1）。

    设置：LINKAGE_API_KEYS（API 密钥 → 用户与用户组）、LINKAGE_ALLOW_ANONYMOUS（无密钥时只能访问公开知识）、
    LINKAGE_MAX_REQUEST_BYTES。同时设置 LINKAGE_SLACK_BOT_TOKEN 和 LINKAGE_SLACK_SIGNING_SECRET 时挂载
    /slack/events；设置 LINKAGE_DINGTALK_ROBOT_SECRET 时挂载 /dingtalk/callback。
    """
    import uvicorn

    from assistant.surfaces.api import app_factory, check_serve_settings, is_loopback
    from assistant.surfaces.limits import server_options

    with user_errors():
        settings = get_settings()
        check_serve_settings(settings)
        _check_port_free(host, port)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"联动助手服务：http://{shown}:{port}/（网页聊天），接口文档 /docs；按 Ctrl-C 停止。", highlight=False, soft_wrap=True)
    if is_loopback(host) and settings.allow_anonymous and not settings.api_keys:
        err_console.print("[dim]只在本机地址监听且没有配置 API 密钥：不带密钥的请求按本机管理员处理，可见全部项目记录。[/dim]", soft_wrap=True)
    # uvicorn's own English start-up and request lines stay out of the user's terminal; warnings and errors still show
    uvicorn.run(app_factory(host), factory=True, host=host, port=port, workers=workers, log_level="warning",
                **server_options(settings))


def _check_port_free(host: str, port: int) -> None:
    """Say in Chinese what uvicorn would report in English: the address cannot be listened on."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigurationError(f"无法解析监听地址 {host}。") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(f"端口 {port} 已被占用：用 --port 换一个端口，或先停止占用它的程序。") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigurationError(f"本机没有地址 {host}，无法在上面监听。") from None
            raise ConfigurationError(f"无法在 {host}:{port} 上监听（{os_reason(exc)}）。") from None


@app.command("slack", cls=ChineseCommand)
def slack_bot() -> None:
    """以 Socket Mode 连接 Slack（不需要公网地址）：回答 @提及和私信，支持 /linkage 命令。

    需要：LINKAGE_SLACK_BOT_TOKEN（xoxb-…）和 LINKAGE_SLACK_APP_TOKEN（xapp-…，带 connections:write）。
    可选：LINKAGE_SLACK_USER_GROUPS（Slack 用户 → 用户组）、LINKAGE_SLACK_CHANNEL_GROUPS（频道 → 用户组）。
    """
    from assistant.surfaces.slack import run_socket_mode

    with user_errors(), _until_interrupted():
        service = _service()
        run_socket_mode(service.settings, service)


@app.command("dingtalk", cls=ChineseCommand)
def dingtalk_bot() -> None:
    """以 Stream 模式连接钉钉（不需要公网地址）：在单聊和 @机器人 的群聊中回答。

    需要：LINKAGE_DINGTALK_CLIENT_ID 和 LINKAGE_DINGTALK_CLIENT_SECRET（钉钉应用的 Client ID / Client Secret）。
    可选：LINKAGE_DINGTALK_STAFF_GROUPS（员工 staffId → 用户组）、LINKAGE_DINGTALK_CONVERSATION_GROUPS
    （群 openConversationId → 用户组）、LINKAGE_DINGTALK_AI_CARD=true（用 AI 卡片流式回答）。
    """
    from assistant.surfaces.dingtalk import run_stream_mode

    with user_errors(), _until_interrupted():
        service = _service()
        run_stream_mode(service.settings, service)


@contextmanager
def _until_interrupted() -> Iterator[None]:
    """Ctrl-C stops a bot quietly."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print("已停止。")


if __name__ == "__main__":  # pragma: no cover - `python -m assistant.surfaces.cli`
    main()
