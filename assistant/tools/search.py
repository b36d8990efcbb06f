"""Knowledge search and index maintenance as tools: the only way surfaces reach the index."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from assistant.index import Hit, IndexReport
from assistant.index.store import Progress
from assistant.tools.context import ToolContext

SOURCES = ("guideline", "standard", "record", "document")


def search_knowledge(ctx: ToolContext, query: str, k: int = 5, source: str | None = None, mode: str = "hybrid") -> list[Hit]:
    """Hybrid search over everything the asking user may see."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"未知来源 {source!r}，可选：{'、'.join(SOURCES)}")
    return ctx.index.search(query, k=k, source=source, groups=ctx.user.groups, mode=mode)


def update_index(ctx: ToolContext, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
    """Index the shipped corpus plus the given files/folders (administrators only)."""
    if not ctx.user.admin:
        raise PermissionError("只有管理员可以更新索引")
    return ctx.index.sync(paths, rebuild=rebuild, progress=progress)
