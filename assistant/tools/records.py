"""The record tools: `linkage projects` and one project's record, filtered by who is asking.

Records are internal: a user sees a record only when its ``access`` groups meet theirs, and a
record they may not see is reported exactly like one that does not exist. The record model lives
in ``assistant.ingest.records`` (shared with the index); its names are re-exported here for the tools.
"""

from __future__ import annotations

from pydantic import BaseModel

from assistant.index.records import RecordStore
from assistant.ingest.records import DONE, Condition, Evidence, Patent, ProjectRecord
from assistant.tools.context import ToolContext

__all__ = ["DONE", "Condition", "Evidence", "Patent", "ProjectRecord", "ProjectSummary", "RecordStore", "get_project", "list_projects"]


class ProjectSummary(BaseModel):
    """What a project list shows."""

    id: str
    name: str
    stage: str
    department: str


def list_projects(ctx: ToolContext, stage: str | None = None) -> list[ProjectSummary]:
    """Projects the user may see (optionally only those at one workflow stage), ordered by id."""
    wanted = ctx.workflow.resolve_stage(stage) if stage else None
    return [
        ProjectSummary(id=r.id, name=r.name, stage=r.stage, department=r.department)
        for r in ctx.records.visible(ctx.user.groups)
        if wanted is None or ctx.workflow.find_stage(r.stage) == wanted
    ]


def get_project(ctx: ToolContext, project_id: str) -> ProjectRecord:
    """The full record of one project the user may see."""
    return ctx.records.get(project_id, ctx.user.groups)
