"""Project records read from every file the index holds records from (and the shipped folder).

A record YAML in any indexed folder, or a row of an indexed project ledger, is a record the record
tools see; the index and the tools validate it with the same ``ProjectRecord`` model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import DocumentLoadError, UnknownProjectError
from assistant.ingest.loaders import RECORD_SUFFIXES, read_records
from assistant.ingest.records import ProjectRecord

logger = logging.getLogger(__name__)


class RecordStore:
    """Every record in the given files (or a folder's files), read once.

    A file or row that cannot be read is skipped with a warning; of two records with one id the
    first (in path order) wins.
    """

    def __init__(self, source: Path | Iterable[Path]):
        if isinstance(source, (str, Path)):
            folder = Path(source)
            if not folder.is_dir():
                logger.warning("项目记录目录不存在：%s", folder)
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in RECORD_SUFFIXES) if folder.is_dir() else []
        else:
            paths = list(dict.fromkeys(Path(p).resolve() for p in source if Path(p).suffix.lower() in RECORD_SUFFIXES))
        self._records = self._load(paths)

    @staticmethod
    def _load(paths: list[Path]) -> dict[str, ProjectRecord]:
        records: dict[str, ProjectRecord] = {}
        for path in paths:
            try:
                found, problems = read_records(path)
            except DocumentLoadError as exc:
                logger.warning("跳过项目记录 %s", exc)
                continue
            except OSError as exc:  # indexed, then moved or deleted: the other records still serve
                logger.warning("跳过项目记录 %s：文件无法读取（已移动或删除？重新运行 linkage index 可更新索引）：%s", path, exc.strerror or exc)
                continue
            for problem in problems:
                logger.warning("跳过项目记录 %s：%s", path.name, problem)
            for record in found:
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
