"""The linkage workflow (corpus/workflow.yaml) as typed data: stages, their order, gates.

The YAML is the single source of truth for what each stage needs; code only evaluates it, so a
change to the workflow is a change to data, checked when the file is loaded. Pure data: the tools
that resolve its references into citations live in ``assistant.tools.workflow``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.errors import UnknownStageError
from assistant.ingest.data_files import load_yaml_model
from assistant.ingest.records import Condition

CONDITION_TEXT: dict[str, str] = {
    "always": "所有项目",
    "targets_standard": "以形成标准为目标的项目",
    "has_patents": "有专利的项目",
    "has_patents_on_standard": "有专利可能进入目标标准的项目",
}


class Ref(BaseModel):
    """A pointer to one ``## `` section of an indexed document."""

    model_config = ConfigDict(frozen=True)

    doc: str
    section: str


class Stage(BaseModel):
    id: str
    name: str
    summary: str = ""
    activities: list[str] = Field(default_factory=list)
    deliverables: list[str] = Field(default_factory=list)
    refs: list[Ref] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    confidence: str = ""


class Tracking(BaseModel):
    id: str
    name: str
    evidence: str
    refs: list[Ref] = Field(default_factory=list)


class Requirement(BaseModel):
    id: str
    name: str
    evidence: list[str]
    when: Condition = "always"
    clauses: list[Ref] = Field(default_factory=list)
    confidence: str = ""


class Gate(BaseModel):
    to: str
    requirements: list[Requirement]


class Workflow(BaseModel):
    """Stages in order, evidence types with their Chinese names, and the gate into each stage."""

    evidence_types: dict[str, str]
    stages: list[Stage]
    tracking: list[Tracking] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "Workflow":
        """Catch typos in the YAML at load time rather than as wrong verdicts later."""
        ids = [s.id for s in self.stages]
        problems = [f"重复的阶段 {i}" for i in ids if ids.count(i) > 1]
        problems += [f"门槛指向未知阶段 {g.to}" for g in self.gates if g.to not in ids]
        used = [d for s in self.stages for d in s.deliverables] + [t.evidence for t in self.tracking]
        used += [e for g in self.gates for r in g.requirements for e in r.evidence]
        problems += [f"未定义的证据类型 {e}" for e in dict.fromkeys(used) if e not in self.evidence_types]
        if problems:
            raise ValueError("；".join(problems))
        return self

    @property
    def order(self) -> list[str]:
        return [s.id for s in self.stages]

    def find_stage(self, name: str) -> str | None:
        """The stage id meant by a name such as 立项, 立项阶段, 项目立项 or 联动创新项目立项."""
        wanted = _normal(name)
        for stage in self.stages:
            if wanted in {_normal(n) for n in (stage.id, stage.name, *stage.aliases)}:
                return stage.id
        return None

    def resolve_stage(self, name: str) -> str:
        """Like find_stage, but an unknown name is an error that lists the valid stages."""
        stage = self.find_stage(name)
        if stage is None:
            raise UnknownStageError(name, self.order)
        return stage

    def stage(self, name: str) -> Stage:
        stage_id = self.resolve_stage(name)
        return next(s for s in self.stages if s.id == stage_id)

    def next_stage(self, name: str) -> str | None:
        """The stage after this one, or None after the last stage."""
        position = self.order.index(self.resolve_stage(name))
        return self.order[position + 1] if position + 1 < len(self.order) else None

    def gate(self, stage: str) -> list[Requirement]:
        """Requirements for entering a stage (none for the first stage)."""
        stage_id = self.resolve_stage(stage)
        return [r for g in self.gates if g.to == stage_id for r in g.requirements]

    def evidence_name(self, evidence_type: str) -> str:
        return self.evidence_types.get(evidence_type, evidence_type)


def _normal(name: str) -> str:
    text = re.sub(r"\s+", "", name or "")
    for prefix in ("联动创新项目", "联动项目", "项目"):
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix):]
            break
    return text.removesuffix("阶段") or text


def load_workflow(path: Path) -> Workflow:
    """Read and check corpus/workflow.yaml; a broken file is a clear DocumentLoadError."""
    return load_yaml_model(path, Workflow, "流程定义")
