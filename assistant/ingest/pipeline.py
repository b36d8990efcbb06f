"""One file in, its chunks out: load, apply metadata overrides, split, within per-file limits.

The limits keep one oversized file from exhausting memory or flooding the index: a DOCX/XLSX is
measured by the bytes its parts expand to (a few MB of zip can hold hundreds of MB of XML), and
a file that splits into more chunks than allowed is refused whole, in one line naming it.
"""

from __future__ import annotations

import hashlib
import zipfile
from functools import lru_cache
from pathlib import Path

from assistant.errors import DocumentLoadError
from assistant.ingest.loaders import load_documents
from assistant.ingest.models import Chunk
from assistant.ingest.splitter import split_document
from assistant.settings import Settings

_ZIPPED = (".docx", ".xlsx")


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def check_size(path: Path, limit: int) -> None:
    """Refuse a file larger than ``limit`` bytes, counting a zipped format's expanded size."""
    size = path.stat().st_size
    what = "文件"
    if path.suffix.lower() in _ZIPPED and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
        what = "解压后"
    if size > limit:
        raise DocumentLoadError(path, f"{what}大小 {_megabytes(size)}，超过每个文件 {_megabytes(limit)} 的上限（LINKAGE_MAX_FILE_BYTES），未索引")


@lru_cache(maxsize=1)
def chunking_recipe() -> str:
    """A digest of the code that turns files into chunks (this package): after an upgrade that
    chunks differently, an unchanged file is chunked again (its unchanged chunks keep their vectors)."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def chunk_file(path: Path, doc_id: str, overrides: dict, settings: Settings) -> tuple[list[Chunk], list[str]]:
    """The chunks of one file, and one line per part of it left out (bad ledger rows)."""
    check_size(path, settings.max_file_bytes)
    documents, problems = load_documents(path, doc_id)
    chunks: list[Chunk] = []
    for document in documents:
        for key, value in overrides.items():
            setattr(document.meta, key, value)
        chunks += split_document(document, settings.chunk_max_chars, settings.chunk_overlap_chars, settings.chunk_min_chars)
        if len(chunks) > settings.max_chunks_per_file:
            raise DocumentLoadError(
                path, f"切分后超过每个文件 {settings.max_chunks_per_file} 段的上限（LINKAGE_MAX_CHUNKS_PER_FILE），未索引"
            )
    return chunks, problems
