"""The typed context every tool receives instead of reaching for globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from assistant.index import KnowledgeIndex
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

    @cached_property
    def index(self) -> KnowledgeIndex:
        return self._index or KnowledgeIndex(self.settings)

    def for_user(self, user: User) -> "ToolContext":
        """The same resources, acting for another user."""
        return ToolContext(settings=self.settings, user=user, _index=self.index)
