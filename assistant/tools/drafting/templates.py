"""The drafting templates (corpus/proposal_templates.yaml) as checked data: kinds, sections, notices."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.ingest.data_files import load_yaml_model
from assistant.tools.records import Condition, ProjectRecord
from assistant.tools.workflow import Ref

TEMPLATES_FILE = "proposal_templates.yaml"


class Block(BaseModel):
    """One piece of a section; exactly one of value/list/table/evidence/todo/text/notice."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    value: str | None = None
    items: str | None = Field(default=None, alias="list")
    table: str | None = None
    evidence: list[str] | None = None
    todo: str | None = None
    text: str | None = None
    notice: str | None = None
    label: str = ""
    missing: str = ""
    columns: dict[str, str] = Field(default_factory=dict)
    where: str | None = None
    empty: str = ""
    total: str | None = None  # record path of the table's total, shown under ``total_column``
    total_column: str = ""
    when: Condition | None = None
    unless: Condition | None = None
    # evidence types whose stage gate needs this content (for the checklist of gaps); default: the
    # block's own evidence types, else the gate that needs the document itself
    needed_for: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> "Block":
        kinds = [k for k in ("value", "items", "table", "evidence", "todo", "text", "notice") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"每个内容块只能有一种内容，这里是 {kinds or '无'}")
        if self.table is not None and not self.columns:
            raise ValueError(f"表格 {self.table} 缺少 columns")
        if self.total and self.total_column not in self.columns:
            raise ValueError(f"表格 {self.table} 的 total_column 须是其中一列")
        return self

    def applies(self, record: ProjectRecord) -> bool:
        if self.when and not record.satisfies(self.when):
            return False
        return not (self.unless and record.satisfies(self.unless))


class SectionTemplate(BaseModel):
    title: str
    refs: list[Ref] = Field(default_factory=list)
    blocks: list[Block]


class Cover(BaseModel):
    """What the title page shows: a title from the record, optionally a standard's level and number."""

    title: str = "name"
    title_missing: str = "项目名称"
    standard_level: str | None = None  # record path of the level; shows the level and a number placeholder
    fields: list[Block] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_only(self) -> "Cover":
        if any(f.value is None for f in self.fields):
            raise ValueError("封面字段只能是 value")
        return self


class KindTemplate(BaseModel):
    evidence: str  # the evidence type this document is: its stage gate orders the checklist of gaps
    cover: Cover = Field(default_factory=Cover)
    sections: list[SectionTemplate]
    refs: list[Ref] = Field(default_factory=list)
    target_level: str = ""  # the standard level this kind of document is written for, if any


class Notice(BaseModel):
    """Fixed wording for a standard's 前言 or 引言; ``{patents}`` stands for one line per identified patent."""

    paragraphs: list[str]
    refs: list[Ref] = Field(default_factory=list)
    patent_line: str = ""


class Templates(BaseModel):
    disclaimer: str
    number_placeholders: dict[str, str] = Field(default_factory=dict)
    placeholders: dict[str, str] = Field(default_factory=dict)
    own_owners: list[str] = Field(default_factory=list)
    licensing_options: list[str] = Field(default_factory=list)
    notices: dict[str, Notice] = Field(default_factory=dict)
    kinds: dict[str, KindTemplate]

    @model_validator(mode="after")
    def _notices_exist(self) -> "Templates":
        for kind in self.kinds.values():
            for section in kind.sections:
                for block in section.blocks:
                    if block.notice is not None and block.notice not in self.notices:
                        raise ValueError(f"未定义的固定文字 {block.notice}")
        for name, notice in self.notices.items():
            if any("{patents}" in p for p in notice.paragraphs) and not notice.patent_line:
                raise ValueError(f"固定文字 {name} 用到 {{patents}}，但没有 patent_line")
        return self


def load_templates(path: Path) -> Templates:
    """Read and check the drafting templates; a broken file is a clear DocumentLoadError."""
    return load_yaml_model(path, Templates, "起草模板")
