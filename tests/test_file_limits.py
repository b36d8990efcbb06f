"""Bad files: per-file limits (expanded bytes, chunks), binary content under a text extension,
and text in GBK/GB18030/UTF-16 decoded with the detected encoding. One line naming the file; the
other files are still indexed."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import pytest

from assistant.errors import DocumentLoadError
from assistant.index import KnowledgeIndex
from assistant.ingest.loaders import load_file
from assistant.ingest.pipeline import chunk_file
from assistant.ingest.splitter import split_document
from assistant.settings import Settings

DATA = Path(__file__).parent / "data"
TEXT = "3 术语和定义\n3.2 联动台账\n逐项记录联动项目的技术成果、相关专利和目标标准信息的表格或数据库。\n"


def _settings(tmp_path: Path, **limits) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedding_backend="hashing", _env_file=None, **limits)


def _zip_bomb_docx(path: Path) -> Path:
    """A small DOCX whose XML expands to several MB (one paragraph repeated)."""
    document = docx.Document()
    paragraph = "联动台账应每季度更新一次。" * 200
    for _ in range(300):
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def test_a_docx_is_measured_by_its_expanded_size(tmp_path):
    path = _zip_bomb_docx(tmp_path / "膨胀.docx")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DocumentLoadError) as excinfo:
        chunk_file(path, "d", {}, _settings(tmp_path, max_file_bytes=2_000_000))
    message = str(excinfo.value)
    assert "膨胀.docx" in message and "解压后" in message and "LINKAGE_MAX_FILE_BYTES" in message and "\n" not in message


def test_a_file_with_too_many_chunks_is_refused_and_the_rest_is_indexed(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(DATA / "standard" / "T-LKA-001-2024.md", folder)
    (folder / "small.md").write_text("# 小文件\n\n## 4.2 更新\n\n联动台账每季度更新一次。\n", encoding="utf-8")
    _zip_bomb_docx(folder / "膨胀.docx")
    index = KnowledgeIndex(_settings(tmp_path, max_chunks_per_file=10, max_file_bytes=2_000_000))
    report = index.sync([folder])
    failed = {Path(e.path).name: e.reason for e in report.errors if str(folder) in e.path}
    assert set(failed) == {"T-LKA-001-2024.md", "膨胀.docx"}
    assert "LINKAGE_MAX_CHUNKS_PER_FILE" in failed["T-LKA-001-2024.md"]
    assert [Path(p).name for p in report.added if "incoming" in p] == ["small.md"]


@pytest.mark.parametrize(
    "name, payload",
    [
        ("renamed-image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8),
        ("renamed-zip.txt", (DATA / "standard" / "T-LKA-001-2024.docx").read_bytes()),
        ("noise.csv", b"\xff\xfe\x00\x81\x82\xfe\xff" * 40),
    ],
)
def test_binary_content_under_a_text_extension_is_refused(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(DocumentLoadError) as excinfo:
        load_file(path, "b")
    assert name in str(excinfo.value) and "不是文本文件" in str(excinfo.value)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-8-sig"])
def test_text_is_decoded_with_the_detected_encoding(tmp_path, encoding):
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(TEXT.encode(encoding))
    chunk = split_document(load_file(path, "t"))[0]
    assert (chunk.clause, chunk.clause_title) == ("3.2", "联动台账")
    assert "逐项记录联动项目的技术成果" in chunk.text
