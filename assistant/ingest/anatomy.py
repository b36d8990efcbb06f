"""Document anatomy that every format shares: GB/T 1.1-2020 standards and laws/regulations.

Runs on the lines a loader produced (Markdown, DOCX, PDF, HTML, TXT alike), so the same document
in any format yields the same metadata and clause ids:
- a standard's cover (ICS/CCS, 团体标准, ``T/XXX 001—2024``, titles, 发布/实施 dates, publisher)
  becomes document metadata; the 目次 is dropped; ``附录A`` / ``（规范性）`` / title lines are joined;
- a law's title line and its version (修正/修订 year, else 施行 date, from its own lines) become
  metadata and its citation label ``《名称》（2018年修订）``.
"""

from __future__ import annotations

import re

from assistant.ingest.models import LoadedDocument, Line

CN_DIGITS = "一二三四五六七八九十百千零〇两"
ARTICLE = re.compile(rf"^第[{CN_DIGITS}\d]+条(?:[\s\u3000]|$)")
LAW_DIVISION = re.compile(rf"^第[{CN_DIGITS}\d]+[编章节条](?:[\s\u3000]|$)")
DOTTED_CLAUSE = re.compile(r"^(?:[A-Z]|\d{1,2})\.\d{1,3}")
# A 目次 entry ends with dot leaders and/or a page number (Arabic or Roman).
TOC_ENTRY = re.compile(r"(?:[.…·．‥]{2,}|[\s\u3000])\s*[\dⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩIVX]{1,4}$")
TOC_LEADERS = re.compile(r"[.…·．‥]{4,}\s*[\dⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩIVX]{1,4}$")
COVER_MARK = re.compile(r"^(?:ICS\s|CCS\s|(?:中华人民共和国)?(?:团体|国家|行业|地方|企业)标准$)")
STANDARD_ON_COVER = re.compile(r"^(?:GB/T|GB/Z|GB|T/[A-Z]{2,10}|[A-Z]{2}/T|Q/[A-Z0-9]+)\s*[\d.]+\s*[-—–－]\s*\d{4}$")
COVER_DATE = re.compile(r"(\d{4}\s*[-—–－]\s*\d{1,2}\s*[-—–－]\s*\d{1,2})\s*(发\s*布|实\s*施)")
VERSION_AMENDED = re.compile(r"(\d{4})年\d{1,2}月\d{1,2}日[^（）()\n]*?(修正|修订|修改)")
VERSION_EFFECTIVE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(?:起)?\s*施行")
VERSION_ISSUED = re.compile(r"(\d{4})年\d{1,2}月\d{1,2}日[^（）()\n]*?(发布|公布|通过)")


def compact(text: str) -> str:
    """A line without any whitespace (``前  言`` → ``前言``)."""
    return re.sub(r"[\s\u3000]+", "", text)


def is_law(lines: list[Line]) -> bool:
    """Articles (第X条 with their body on the line) outnumber dotted clauses: a law or regulation."""
    articles = sum(1 for line in lines if ARTICLE.match(line.text.strip()))
    dotted = sum(1 for line in lines if DOTTED_CLAUSE.match(line.text.strip()))
    return articles >= 3 and articles > dotted


def prepare(document: LoadedDocument) -> LoadedDocument:
    """Apply the anatomy rules in place and return the document."""
    if is_law(document.lines):
        _law(document)
    else:
        _standard(document)
    return document


# ----- laws and regulations -----


def law_version(lines: list[str]) -> tuple[str, int | None]:
    """``2018年修订`` (latest amendment), else ``2019年3月1日施行``, else ``1990年发布``."""
    text = "\n".join(lines)
    amended = [(int(y), kind) for y, kind in VERSION_AMENDED.findall(text)]
    if amended:
        year, kind = max(amended)
        return f"{year}年{'修订' if kind == '修订' else '修正'}", year
    effective = VERSION_EFFECTIVE.findall(text)
    if effective:
        y, m, d = max(effective, key=lambda t: tuple(map(int, t)))
        return f"{y}年{int(m)}月{int(d)}日施行", int(y)
    issued = [int(y) for y, _ in VERSION_ISSUED.findall(text)]
    if issued:
        return f"{max(issued)}年发布", max(issued)
    return "", None


def _law(document: LoadedDocument) -> None:
    meta, lines = document.meta, document.lines
    meta.layout = "law"
    first_division = next((i for i, l in enumerate(lines) if LAW_DIVISION.match(l.text.strip())), len(lines))
    head = lines[:first_division]
    title_line = next((l for l in head if l.heading_level == 1), None) or (head[0] if head else None)
    if title_line is not None and len(title_line.text) <= 60 and not re.search(r"\d{4}年", title_line.text):
        meta.title = title_line.text.strip()
        lines.remove(title_line)
        head = [l for l in head if l is not title_line]
    version, year = law_version([l.text for l in head])
    meta.version, meta.year = version, year or meta.year
    meta.source, meta.standard = "document", ""
    meta.cite_as = f"《{meta.title}》" + (f"（{version}）" if version else "")


# ----- GB/T 1.1-2020 standards -----


def _standard(document: LoadedDocument) -> None:
    lines = document.lines
    if _cover(document) or any(compact(l.text) in ("前言", "目次", "术语和定义", "3术语和定义") for l in lines):
        document.meta.layout = "standard"
    document.lines = _merge_annex_headings(_drop_toc(document.lines))


def _cover(document: LoadedDocument) -> bool:
    """Move the cover page's lines into metadata; True when the document has a cover."""
    lines = document.lines
    end = next(
        (
            i
            for i, l in enumerate(lines[:60])
            if compact(l.text) in ("目次", "前言", "引言") or re.match(r"^1[\s\u3000]+范围$", l.text.strip())
        ),
        None,
    )
    if end is None:
        return False
    cover = [l.text.strip() for l in lines[:end]]
    if not any(COVER_MARK.match(t) for t in cover) or not any(STANDARD_ON_COVER.match(t) for t in cover):
        return False
    meta = document.meta
    from assistant.ingest.loaders import find_standard

    title_parts: list[str] = []
    for text in cover:
        number = STANDARD_ON_COVER.match(text)
        date = COVER_DATE.findall(text)
        if number:
            meta.standard, meta.year = find_standard(text)
        elif date:
            for value, kind in date:
                value = re.sub(r"\s*[-—–－]\s*", "-", value)
                if compact(kind) == "发布":
                    meta.published = value
                else:
                    meta.effective = value
        elif COVER_MARK.match(text) or re.fullmatch(r"(?:代替|替代)\s*.+", text):
            continue
        elif re.search(r"发\s*布$", text):
            meta.publisher = re.sub(r"[\s\u3000]*发\s*布$", "", text)
        elif re.fullmatch(r"[A-Za-z][A-Za-z0-9 ,;:'’()\-—]+", text):
            meta.english_title = " ".join(filter(None, (meta.english_title, text)))
        elif re.search(r"[\u4e00-\u9fff]", text):
            title_parts.append(text)
    if title_parts:
        meta.title = "".join(title_parts)
    if meta.standard:
        meta.source = "standard"
    document.lines = lines[end:]
    return True


def _drop_toc(lines: list[Line]) -> list[Line]:
    """Drop the 目次 heading and its entries, and stray dot-leader entries anywhere."""
    out: list[Line] = []
    in_toc = False
    for line in lines:
        text = line.text.strip()
        if compact(text) == "目次":
            in_toc = True
            continue
        if in_toc and TOC_ENTRY.search(text) and not text.endswith(("。", "；")):
            continue
        in_toc = False
        if TOC_LEADERS.search(text):
            continue
        out.append(line)
    return out


def _merge_annex_headings(lines: list[Line]) -> list[Line]:
    """``附录A`` + ``（规范性）`` + ``台账字段表`` on separate lines → one heading line."""
    out: list[Line] = []
    explicit = any(l.heading_level for l in lines)  # among format-marked headings an annex opens a top level
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"(附[\s\u3000]*录[\s\u3000]*[A-Z])[\s\u3000]*([（(](?:规范性|资料性)(?:附录)?[）)])?", line.text.strip())
        if m and i + 1 < len(lines):
            parts, j = [compact(m.group(1)), m.group(2) or ""], i + 1
            if not m.group(2) and re.fullmatch(r"[（(](?:规范性|资料性)(?:附录)?[）)]", lines[j].text.strip()):
                parts[1] = lines[j].text.strip()
                j += 1
            if j < len(lines) and _short_title(lines[j].text):
                parts.append(lines[j].text.strip())
                j += 1
            level = line.heading_level or (1 if explicit else None)
            out.append(Line(text="".join(parts[:2]) + " " + " ".join(parts[2:]), page=line.page, heading_level=level))
            i = j
            continue
        out.append(line)
        i += 1
    return out


def _short_title(text: str) -> bool:
    text = text.strip()
    return 0 < len(text) <= 40 and not text.endswith(("。", "；", "，", "：")) and not DOTTED_CLAUSE.match(text)
