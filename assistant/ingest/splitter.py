"""Clause-aware splitting of Chinese standards, laws and documents.

Recognises 第X编/章/节/条, 附录A / 附录 A, 一、, （一）, 1、, （1）, dotted clauses (5.2.1, A.1),
untitled clauses (``4.2 联动工作小组应……。``: number and body on one line), term entries (``3.2``
alone, then the term line), 前言/引言/参考文献, and headings that the format marks itself
(Markdown, DOCX styles, HTML). In a law (``meta.layout == "law"``) only 编/章/节/条 open clauses:
款 and 项 stay inside their article. Chunks never cross a clause boundary, except that a clause
shorter than ``min_chars`` travels with the next one; a long clause is cut at sentence or
table-row boundaries with overlap and keeps its clause id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.ingest.models import Chunk, LoadedDocument, Line

CN_NUM = "一二三四五六七八九十百零〇"
LAW_NUM = r"一二三四五六七八九十百千零〇两\d"
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


@dataclass(frozen=True)
class Heading:
    style: str  # identifies a numbering family: "cn", "paren_cn", "dot2", "h2", ...
    label: str  # the number as written in the clause id: "二、", "（一）", "2", "5.2.1", "附录A"
    title: str
    self_qualified: bool  # "5.2.1" names itself; "2" needs its parents ("二、2")
    level: int | None = None  # explicit heading level (Markdown/DOCX/HTML)
    body: str = ""  # text on the heading's own line that belongs to the clause (untitled clause, article)
    bare: bool = False  # a clause number alone on its line: a term entry, its term on the next line
    family: str = ""  # numbering family of a format-marked heading ("dot2" for "## 6.2 …"), "" if unnumbered

    @property
    def kind(self) -> str:
        """The numbering family that decides nesting: its number's, else its explicit style."""
        return self.family or self.style

    @property
    def display(self) -> str:
        label = f"{self.label}、" if self.style == "arabic_dun" else self.label
        return f"{label} {self.title}".strip()


_LAW_PATTERNS: list[tuple[str, re.Pattern, int]] = [
    ("part", re.compile(rf"^(第[{LAW_NUM}]+编)[\s\u3000]*(.*)$"), 40),
    ("chapter", re.compile(rf"^(第[{LAW_NUM}]+章)[\s\u3000]*(.*)$"), 40),
    ("law_section", re.compile(rf"^(第[{LAW_NUM}]+节)[\s\u3000]*(.*)$"), 40),
    ("article", re.compile(rf"^(第[{LAW_NUM}]+条)(?:[\s\u3000]+(.*))?$"), 10**6),
]
_FRONT = re.compile(r"^(前[\s\u3000]*言|引[\s\u3000]*言|参[\s\u3000]*考[\s\u3000]*文[\s\u3000]*献|索[\s\u3000]*引)$")
_BARE_NUMBER = re.compile(r"^(\d{1,2}(?:\.\d{1,3}){1,5}|[A-Z](?:\.\d{1,3}){1,5})$")
_SENTENCE_TAIL = ("。", "；", ";", "，", ",", "：")
_PATTERNS: list[tuple[str, re.Pattern, int]] = [
    *_LAW_PATTERNS,
    ("appendix", re.compile(r"^(附\s*录\s*[A-Z])(?![A-Za-z])\s*(?:[（(](?:规范性|资料性)(?:附录)?[）)])?\s*(.*)$"), 40),
    ("cn", re.compile(rf"^([{CN_NUM}]+、)\s*(.+)$"), 60),
    ("paren_cn", re.compile(rf"^([（(][{CN_NUM}]+[）)])\s*(.+)$"), 40),
    ("arabic_dun", re.compile(r"^(\d{1,2})、\s*(.+)$"), 40),
    ("paren_arabic", re.compile(r"^([（(]\d{1,2}[）)])\s*(.+)$"), 40),
    ("dot", re.compile(r"^([A-Z]?\d{1,2}(?:\.\d{1,3}){0,5}|[A-Z](?:\.\d{1,3}){1,5})[\s\u3000]+(\S.*)$"), 40),
]


def parse_heading(text: str, law: bool = False) -> Heading | None:
    """The clause heading this line opens, or None for body text. ``law``: only 编/章/节/条."""
    text = text.strip()
    if not law:
        if _FRONT.match(text):
            return Heading("front", re.sub(r"[\s\u3000]+", "", text), "", self_qualified=True)
        bare = _BARE_NUMBER.match(text)
        if bare:
            label = bare.group(1)
            return Heading(_dot_style(label), label, "", self_qualified=True, bare=True)
    for style, pattern, max_title in _LAW_PATTERNS if law else _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        label, title = m.group(1), (m.group(2) or "").strip()
        if style == "article":
            return Heading(style, label, "", self_qualified=True, body=title)
        if style == "dot" and "." in label and (len(title) > max_title or title.endswith(_SENTENCE_TAIL)):
            if re.match(r"^[\d年月日%‰℃.]", title):
                return None
            return Heading(_dot_style(label), label, "", self_qualified=True, body=title)  # untitled clause
        if len(title) > max_title or title.endswith(_SENTENCE_TAIL):
            return None
        if style == "dot":
            if re.match(r"^[\d年月日%‰℃.]", title):
                return None
            return Heading(_dot_style(label), label, title, self_qualified=True)
        if style == "appendix":
            return Heading(style, re.sub(r"\s+", "", label), title, self_qualified=True)
        if style in ("chapter", "part"):
            return Heading(style, label, title, self_qualified=True)
        if style == "law_section":
            return Heading(style, label, title, self_qualified=False)
        if style == "paren_cn":
            label = f"（{label[1:-1]}）"
        if style == "paren_arabic":
            label = f"（{label[1:-1]}）"
        return Heading(style, label, title, self_qualified=False)
    return None


def _dot_style(label: str) -> str:
    return f"{'adot' if label[0].isalpha() else 'dot'}{label.count('.') + 1}"


def _explicit_heading(line: Line, law: bool) -> Heading:
    numbered = parse_heading(line.text, law)
    if numbered:
        return Heading(
            f"h{line.heading_level}", numbered.label, numbered.title, numbered.self_qualified, line.heading_level,
            numbered.body, numbered.bare, numbered.style,
        )
    return Heading(f"h{line.heading_level}", "", line.text.strip(), False, line.heading_level)


def split_term(text: str) -> tuple[str, str]:
    """``联动台账 linkage ledger`` → (``联动台账``, ``linkage ledger``)."""
    m = re.match(r"^(.*?[^\x00-\x7f].*?)[\s\u3000]+([A-Za-z][A-Za-z0-9 ,;'’()\-/]*)$", text.strip())
    return (m.group(1).strip(), m.group(2).strip()) if m else (text.strip(), "")


def _is_term_line(text: str) -> bool:
    text = text.strip()
    return 0 < len(text) <= 60 and not text.endswith(_SENTENCE_TAIL) and parse_heading(text) is None


# Conventional depth of each numbering family: 第X编 > 第X章/附录 > 第X节 > 第X条; 一、 > （一） > 1、 > （1）;
# 5 > 5.2 > 5.2.1.
_RANK = {
    "part": -1, "chapter": 0, "appendix": 0, "front": 99, "law_section": 0.5, "article": 0.8,
    "cn": 1, "paren_cn": 2, "arabic_dun": 3, "paren_arabic": 4,
}


def _rank(heading: Heading) -> float:
    if heading.kind in _RANK:
        return _RANK[heading.kind]
    return float(heading.kind.lstrip("adot"))  # dot1, dot2, adot1 … by depth


def _push(stack: list[Heading], heading: Heading) -> None:
    """Close the headings this one ends, then open it."""
    if heading.kind == "front":  # 前言, 引言, 参考文献 stand alone
        stack.clear()
    elif heading.level is not None:
        while stack and (stack[-1].level is None or stack[-1].level >= heading.level):
            stack.pop()
    elif any(h.kind == heading.kind for h in stack):  # a sibling: trust the document's own order
        while stack[-1].kind != heading.kind:
            stack.pop()
        stack.pop()
    else:
        while stack and (stack[-1].level is None or stack[-1].family) and _rank(stack[-1]) >= _rank(heading):
            stack.pop()
    stack.append(heading)


def clause_id(stack: list[Heading]) -> str:
    """``二、2`` for nested Chinese numbering, ``5.2.1`` for dotted clauses, ``""`` if unnumbered."""
    if not stack or not stack[-1].label:
        return ""
    parts: list[str] = []
    for heading in reversed(stack):
        if not heading.label:
            break
        parts.append(heading.label)
        if heading.self_qualified:
            break
    return "".join(reversed(parts))


@dataclass
class _Section:
    stack: list[Heading]
    lines: list[Line]

    @property
    def body(self) -> str:
        return "\n".join(line.text for line in self.lines)


def sections(document: LoadedDocument) -> list[_Section]:
    """Cut a document at every clause heading, remembering the open headings above each cut."""
    law = document.meta.layout == "law"
    stack: list[Heading] = []
    out = [_Section([], [])]
    lines = document.lines
    for i, line in enumerate(lines):
        heading = None
        if line.heading_level is not None:
            heading = _explicit_heading(line, law)
        elif not line.table:
            heading = parse_heading(line.text, law)
        if heading is None:
            out[-1].lines.append(line)
            continue
        if heading.bare:  # a term entry: its term (and English equivalent) is the next line
            following = lines[i + 1] if i + 1 < len(lines) else None
            if following is not None and not following.table and _is_term_line(following.text):
                heading = replace(heading, title=split_term(following.text)[0], bare=False)
        _push(stack, heading)
        out.append(_Section(list(stack), [Line(text=heading.body, page=line.page)] if heading.body else []))
    return [s for s in out if s.lines]


def _units(lines: list[Line]) -> list[tuple[Line, bool]]:
    """Sentences (and table rows), each flagged when it starts a new line of the source."""
    units: list[tuple[Line, bool]] = []
    for line in lines:
        if line.table:
            units.append((line, True))
            continue
        pieces = [p for p in _SENTENCE_END.split(line.text) if p]
        units.extend((Line(text=p, page=line.page), i == 0) for i, p in enumerate(pieces))
    return units


def _windows(lines: list[Line], max_chars: int, overlap: int) -> list[list[tuple[Line, bool]]]:
    units = _units(lines)
    if sum(len(u.text) + 1 for u, _ in units) <= max_chars:
        return [units]
    windows: list[list[tuple[Line, bool]]] = []
    current: list[tuple[Line, bool]] = []
    size = 0
    for unit in units:
        if current and size + len(unit[0].text) > max_chars:
            windows.append(current)
            carried: list[tuple[Line, bool]] = []
            carried_size = 0
            for previous in reversed(current):
                if carried_size + len(previous[0].text) > overlap:
                    break
                carried.insert(0, previous)
                carried_size += len(previous[0].text)
            current, size = carried, carried_size
        current.append(unit)
        size += len(unit[0].text)
    if current:
        windows.append(current)
    return windows


def _join(units: list[tuple[Line, bool]]) -> str:
    """Sentences of one source line run on; a new source line starts a new text line."""
    return "".join(("\n" if starts and i else "") + line.text for i, (line, starts) in enumerate(units))


def split_document(document: LoadedDocument, max_chars: int = 500, overlap: int = 80, min_chars: int = 4) -> list[Chunk]:
    """Clause-level chunks of one loaded document, in reading order."""
    meta = document.meta
    chunks: list[Chunk] = []
    pending: list[Line] = []  # tiny clauses waiting to travel with the next one
    pending_stacks: list[list[Heading]] = []
    all_sections = sections(document)
    for index, section in enumerate(all_sections):
        lines, stacks = section.lines, [section.stack]
        if pending_stacks:
            heading_line = [Line(text=section.stack[-1].display, page=lines[0].page)] if section.stack else []
            lines = pending + heading_line + lines
            stacks = pending_stacks + stacks
            pending, pending_stacks = [], []
        if len(section.body) < min_chars and index + 1 < len(all_sections):
            pending, pending_stacks = lines, stacks
            continue
        first, last = stacks[0], stacks[-1]
        clause = clause_id(first)
        clause_title = first[-1].title if first else ""
        if len(stacks) > 1:  # merged tiny clauses: cite the whole range
            clause = "–".join(c for c in (clause, clause_id(last)) if c)
            clause_title = "；".join(s[-1].title for s in stacks if s)
        for window in _windows(lines, max_chars, overlap):
            chunks.append(
                Chunk(
                    doc_id=meta.doc_id,
                    title=meta.title,
                    source=meta.source,
                    standard=meta.standard,
                    year=meta.year,
                    kind=meta.kind,
                    cite_as=meta.label(),
                    access=list(meta.access),
                    clause=clause,
                    clause_title=clause_title,
                    clause_path=" > ".join(h.display for h in first),
                    page=next((l.page for l, _ in window if l.page is not None), None),
                    source_file=document.source_file,
                    seq=len(chunks),
                    text=_join(window),
                )
            )
    return chunks
