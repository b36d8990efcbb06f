"""Domain errors. Only the surfaces (CLI, HTTP, bots) turn them into user-facing messages."""

import errno

_OS_REASONS = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EISDIR: "这是一个目录",
    errno.ENOTDIR: "路径中有一部分不是目录",
    errno.ENOSPC: "磁盘空间不足",
    errno.EROFS: "文件系统是只读的",
    errno.EEXIST: "文件已存在",
    errno.ENAMETOOLONG: "文件名太长",
    errno.EMFILE: "打开的文件太多",
    errno.EIO: "读写出错",
}


def os_reason(exc: OSError) -> str:
    """Why the operating system refused, in Chinese (``strerror`` is English whatever the locale)."""
    return _OS_REASONS.get(exc.errno, "无法访问") if exc.errno is not None else "无法访问"


class LinkageError(Exception):
    """Base class for errors that carry a message safe to show to a user."""


class ConfigurationError(LinkageError):
    """A setting is missing or invalid (e.g. a bot secret)."""


class DocumentLoadError(LinkageError):
    """A file could not be read or parsed (malformed PDF/DOCX, bad encoding, bad YAML)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # copy and pickle rebuild it from both fields, not from the joined message
        return type(self), (self.path, self.reason)


class UnknownClauseError(LinkageError):
    """No chunk with this id that the user may see (a stale citation after re-indexing, or a hidden record)."""

    def __init__(self, chunk_id: str):
        self.chunk_id = chunk_id
        super().__init__(f"未找到条款 {chunk_id!r}（索引可能已更新，请重新提问）")


class InvalidQuestionError(LinkageError):
    """The question is empty or too long."""


class UnknownProjectError(LinkageError):
    """No visible project has this id."""

    def __init__(self, project_id: str, valid: list[str]):
        self.project_id = project_id
        self.valid = valid
        listed = "、".join(valid) if valid else "（无可见项目）"
        super().__init__(f"未找到项目 {project_id!r}。可用的项目编号：{listed}")


class UnknownStageError(LinkageError):
    """The stage name is not one of the workflow stages."""

    def __init__(self, stage: str, valid: list[str]):
        self.stage = stage
        self.valid = valid
        super().__init__(f"未知阶段 {stage!r}。可用的阶段：{'、'.join(valid)}")


class IndexNotReadyError(LinkageError):
    """The knowledge index has not been built yet."""


class LLMError(LinkageError):
    """The language-model service failed (timeout, unreachable, key refused, error reply)."""


class IndexDamagedError(IndexNotReadyError):
    """A data file of the index is unreadable or out of step; ``linkage index --repair`` rebuilds it."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"索引数据损坏：{self.path}（{reason}）。请由管理员运行 `linkage index --repair` 修复。")


class IndexBusyError(LinkageError):
    """Another indexer holds the data directory's lock for longer than we may wait."""


class StorageError(LinkageError):
    """The conversation database cannot be used (corrupt file, server unreachable); says which and how to fix it."""


class UnknownConversationError(LinkageError):
    """No conversation with this id belongs to the asker (it may be someone else's: never say whose)."""

    def __init__(self, conversation_id: str):
        self.conversation_id = conversation_id
        super().__init__(f"未找到对话 {conversation_id!r}：对话编号只能由发起对话的用户继续使用。请不带对话编号重新提问，开始新的对话。")


class ModelServiceError(LinkageError):
    """A hosted embedding or rerank service failed or refused; says which setting to check."""
