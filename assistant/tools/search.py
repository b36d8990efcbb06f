"""Knowledge search and index maintenance as tools: the only way surfaces reach the index."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from assistant.errors import UnknownClauseError
from assistant.index import Hit, IndexReport, Progress
from assistant.index.references import search_with_references
from assistant.tools.context import ToolContext

SOURCES = ("guideline", "standard", "record", "document")


def search_knowledge(ctx: ToolContext, query: str, k: int = 5, source: str | None = None, mode: str = "hybrid") -> list[Hit]:
    """Hybrid search over everything the asking user may see; a clause the question names comes first."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"未知来源 {source!r}，可选：{'、'.join(SOURCES)}")
    return search_with_references(ctx.index, query, k=k, source=source, groups=ctx.user.groups, mode=mode)


def get_clause(ctx: ToolContext, chunk_id: str) -> Hit:
    """One chunk by id, for showing a citation's whole clause; hidden records look missing."""
    hits = ctx.index.get([chunk_id], groups=ctx.user.groups)
    if not hits:
        raise UnknownClauseError(chunk_id)
    return hits[0]


def update_index(
    ctx: ToolContext, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None, repair: bool = False
) -> IndexReport:
    """Index the shipped corpus plus the given files/folders (administrators only); ``repair`` checks everything."""
    if not ctx.user.admin:
        raise PermissionError("只有管理员可以更新索引")
    return ctx.index.sync(paths, rebuild=rebuild, progress=progress, repair=repair)
