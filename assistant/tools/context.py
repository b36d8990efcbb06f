"""The typed context every tool receives instead of reaching for globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from assistant.index import KnowledgeIndex
from assistant.index.records import RecordStore
from assistant.ingest.workflow import Workflow, load_workflow
from assistant.settings import Settings


@dataclass(frozen=True)
class User:
    """Who is asking. ``groups=None`` means the local administrator, who sees every record."""

    name: str
    groups: list[str] | None = None
    admin: bool = False

    @classmethod
    def local_admin(cls) -> "User":
        return cls(name="local-admin", groups=None, admin=True)


@dataclass
class ToolContext:
    settings: Settings
    user: User = field(default_factory=User.local_admin)
    _index: KnowledgeIndex | None = None
    _records: RecordStore | None = None
    _workflow: Workflow | None = None

    @cached_property
    def index(self) -> KnowledgeIndex:
        return self._index or KnowledgeIndex(self.settings)

    @cached_property
    def records(self) -> RecordStore:
        """Project records from the shipped folder and every record file the index holds, read once
        per context (and shared by ``for_user``)."""
        if self._records is not None:
            return self._records
        shipped = sorted(self.settings.records_dir.glob("*.y*ml")) if self.settings.records_dir.is_dir() else []
        return RecordStore([*shipped, *self.index.indexed_files()])

    @cached_property
    def workflow(self) -> Workflow:
        return self._workflow or load_workflow(self.settings.workflow_file)

    def reload_knowledge_files(self) -> None:
        """Read records and workflow again on next use (after ``linkage index`` saw them change)."""
        self._records = self._workflow = None
        self.__dict__.pop("records", None)
        self.__dict__.pop("workflow", None)

    def for_user(self, user: User) -> "ToolContext":
        """The same resources, acting for another user."""
        return ToolContext(
            settings=self.settings, user=user, _index=self.index, _records=self.records, _workflow=self.workflow
        )
