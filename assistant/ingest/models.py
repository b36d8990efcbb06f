"""What ingestion produces: documents made of lines, and clause-level chunks."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

# Bump when embedding_text() or lexical_text() changes: chunk ids change with it, so stored vectors are renewed.
EMBEDDING_RECIPE = 3

SOURCES = ("guideline", "standard", "record", "document")


def format_citation(cite_as: str, clause: str, clause_title: str) -> str:
    """Human citation: ``GB/T 20003.1-2014 §3.2 必要专利``, ``编制说明 二、2 …``, ``《专利代理条例》（2018年修订）第十条``."""
    if re.match(r"^(?:[A-Z]\.)?\d", clause):
        clause = f"§{clause}"
    if clause.startswith("第") and cite_as.endswith(("》", "）")):  # laws are cited as 《名称》第X条
        return " ".join(p for p in (cite_as + clause, clause_title) if p)
    return " ".join(p for p in (cite_as, clause, clause_title) if p)


@dataclass
class Line:
    """One logical line of a document.

    ``heading_level`` is set when the format itself marks a heading (Markdown ``#``, a DOCX
    heading style, HTML ``<h2>``); plain-text formats leave it None and the splitter recognises
    Chinese clause numbering instead. ``table`` lines are rows of a text table.
    """

    text: str
    page: int | None = None
    heading_level: int | None = None
    table: bool = False


@dataclass
class DocumentMeta:
    doc_id: str
    title: str
    source: str = "document"  # one of SOURCES
    standard: str = ""  # e.g. "GB/T 20003.1-2014"
    year: int | None = None
    kind: str = "document"  # document | summary | record
    cite_as: str = ""  # short label used in citations, e.g. "编制说明"
    access: list[str] = field(default_factory=list)  # record groups; empty = public
    layout: str = ""  # "standard" (GB/T 1.1 anatomy), "law" (编/章/节/条) or "" (anything else)
    version: str = ""  # a law's version from its own lines, e.g. "2018年修订", "2019年3月1日施行"
    english_title: str = ""
    published: str = ""  # cover dates of a standard, as written
    effective: str = ""
    publisher: str = ""

    def label(self) -> str:
        if self.cite_as:
            return self.cite_as
        if self.standard:
            return f"{self.standard}（摘要）" if self.kind == "summary" else self.standard
        return self.title


@dataclass
class LoadedDocument:
    meta: DocumentMeta
    lines: list[Line]
    source_file: str


@dataclass
class Chunk:
    doc_id: str
    title: str
    source: str
    standard: str
    year: int | None
    kind: str
    cite_as: str
    access: list[str]
    clause: str  # "5.2.1", "二、2", "附录A", or "" for an unnumbered heading
    clause_title: str
    clause_path: str  # "二、 标准编制原则和主要内容 > 2、 标准主要内容的论据"
    page: int | None
    source_file: str
    seq: int  # position of the chunk within its document
    text: str

    @property
    def citation(self) -> str:
        return format_citation(self.cite_as, self.clause, self.clause_title)

    @property
    def id(self) -> str:
        """Content-addressed id: unchanged text and metadata keep their id (and their embedding)."""
        payload = json.dumps([EMBEDDING_RECIPE, asdict(self)], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    def embedding_text(self) -> str:
        """Text given to the embedder: where the chunk sits, then its body."""
        head = " ".join(p for p in (self.cite_as, self.title, self.clause_path) if p)
        return f"{head}\n{self.text}"

    def lexical_text(self) -> str:
        """Text for BM25: the clause title counts twice, since a heading says what a clause is about."""
        return f"{self.embedding_text()}\n{self.clause_title}"
