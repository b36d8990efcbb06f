"""Project records (corpus/records/*.yaml) as typed objects, filtered by who is asking.

Records are internal: a user sees a record only when its ``access`` groups meet theirs, and a
record they may not see is reported exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from assistant.errors import UnknownProjectError

if TYPE_CHECKING:
    from assistant.tools.context import ToolContext

logger = logging.getLogger(__name__)

DONE = "完成"  # the only evidence status that satisfies a gate requirement
Condition = Literal["always", "targets_standard", "has_patents", "has_patents_on_standard"]


def _text(value: Any) -> Any:
    """YAML turns 2025-04-25 into a date; records keep dates as the text the author wrote."""
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


Text = Annotated[str, BeforeValidator(_text)]


class _Open(BaseModel):
    """Record parts accept fields we do not know yet, so richer records still load."""

    model_config = ConfigDict(extra="allow")


class TargetStandard(_Open):
    level: Text = ""
    title: Text = ""
    body: Text = ""
    route: Text = ""


class Patent(_Open):
    number: Text
    title: Text = ""
    status: Text = ""
    owner: Text = ""
    reads_on_target_standard: bool = False


class RelatedStandard(_Open):
    number: Text
    title: Text = ""
    relation: Text = ""


class Evidence(_Open):
    type: Text
    title: Text = ""
    date: Text = ""
    status: Text = ""


class Milestone(_Open):
    name: Text
    due: Text = ""
    status: Text = ""


class BudgetItem(_Open):
    item: Text
    wan: float | None = None


class Budget(_Open):
    total_wan: float | None = None
    items: list[BudgetItem] = Field(default_factory=list)


class TeamMember(_Open):
    name: Text
    role: Text = ""
    unit: Text = ""


class ProjectRecord(_Open):
    """One internal project record, as written in corpus/records/<id>.yaml."""

    id: Text
    name: Text
    stage: Text
    organization: Text = ""
    department: Text = ""
    owner: Text = ""
    access: list[Text] = Field(default_factory=list)
    summary: Text = ""
    objectives: list[Text] = Field(default_factory=list)
    target_standard: TargetStandard | None = None
    patents: list[Patent] = Field(default_factory=list)
    related_standards: list[RelatedStandard] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    budget: Budget | None = None
    risks: list[Text] = Field(default_factory=list)
    team: list[TeamMember] = Field(default_factory=list)

    @property
    def targets_standard(self) -> bool:
        """The project aims at a standard (the record names one)."""
        target = self.target_standard
        return bool(target and (target.title or target.level or target.body))

    @property
    def has_patents(self) -> bool:
        return bool(self.patents)

    @property
    def has_patents_on_standard(self) -> bool:
        """Some patent (ours or a third party's) may be essential to the target standard."""
        return self.targets_standard and bool(self.patents_on_standard)

    @property
    def patents_on_standard(self) -> list[Patent]:
        return [p for p in self.patents if p.reads_on_target_standard]

    def satisfies(self, condition: Condition) -> bool:
        """Evaluate a workflow ``when`` condition against this record."""
        return condition == "always" or bool(getattr(self, condition))

    def evidence_of(self, evidence_type: str) -> list[Evidence]:
        """Every piece of evidence of one type, in record order."""
        return [e for e in self.evidence if e.type == evidence_type]

    def visible_to(self, groups: list[str] | None) -> bool:
        """``None`` is the local administrator; anyone else needs a group in ``access``."""
        return groups is None or bool(set(self.access) & set(groups))


class ProjectSummary(BaseModel):
    """What a project list shows."""

    id: str
    name: str
    stage: str
    department: str


class RecordStore:
    """Every record in a folder, read once. A file that cannot be read is skipped with a warning."""

    def __init__(self, records_dir: Path):
        self.records_dir = Path(records_dir)
        self._records = self._load()

    def _load(self) -> dict[str, ProjectRecord]:
        records: dict[str, ProjectRecord] = {}
        if not self.records_dir.is_dir():
            logger.warning("项目记录目录不存在：%s", self.records_dir)
            return records
        paths = sorted(p for p in self.records_dir.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
        for path in paths:
            try:
                record = ProjectRecord.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "记录"
                logger.warning("跳过项目记录 %s：%s %s", path.name, where, first["msg"])
                continue
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                logger.warning("跳过无法读取的项目记录 %s：%s", path.name, str(exc).splitlines()[0])
                continue
            if record.id in records:
                logger.warning("跳过项目记录 %s：项目编号 %s 重复", path.name, record.id)
                continue
            records[record.id] = record
        return dict(sorted(records.items()))

    def visible(self, groups: list[str] | None) -> list[ProjectRecord]:
        """Records these groups may see, ordered by id."""
        return [r for r in self._records.values() if r.visible_to(groups)]

    def get(self, project_id: str, groups: list[str] | None) -> ProjectRecord:
        """One record, or UnknownProjectError listing what these groups may see instead."""
        record = self._records.get(project_id.strip())
        if record is None or not record.visible_to(groups):
            raise UnknownProjectError(project_id, [r.id for r in self.visible(groups)])
        return record


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
