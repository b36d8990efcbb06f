"""Exact references: a question that names a clause or article finds it by metadata lookup first.

``专利法第四十二条``, ``《专利代理条例》第10条``, ``GB/T 20003.1 的 3.2``, ``5.2.1 条``, ``附录 A``,
``clause 4.2``: the clause id is looked up in the index (Chinese and Arabic numerals both), the
document named in the question (title or standard number) picks among documents, and the search
results follow. Of two versions of one document the newer comes first unless the question names
the older one's year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cn2an import an2cn, cn2an

from assistant.index.knowledge import KnowledgeIndex
from assistant.index.store import Hit

_CN = "一二三四五六七八九十百千零〇两"
_STANDARD = re.compile(
    r"(?P<code>GB/T|GB/Z|GB|T/[A-Z]{2,10}|[A-Z]{2}/T|ISO/IEC|ISO|IEC)\s*(?P<num>\d+(?:\.\d+)*)"
    r"(?:\s*[-—–－]\s*(?P<year>(?:19|20)\d{2}))?",
    re.I,
)
_TITLE = re.compile(r"《([^》]{2,40})》")
_LAW_NAME = re.compile(r"([\u4e00-\u9fff]{2,30}?(?:法|条例|办法|规定|细则|规则|决定|准则|规范|指南))(?:的)?\s*第")
_ARTICLE = re.compile(rf"第\s*([{_CN}\d]+)\s*条")
_DOTTED = re.compile(r"(?<![\w.])(\d{1,2}(?:\.\d{1,3}){1,5}|[A-Z](?:\.\d{1,3}){1,5})(?![\w.])")
_ANNEX = re.compile(r"附\s*录\s*([A-Z])(?![A-Za-z])|\b(?:annex|appendix)\s+([A-Z])\b", re.I)
_YEAR = re.compile(r"((?:19|20)\d{2})\s*(?:年)?\s*(?:版|修正|修订|修改|文本|版本|的)?")
_DOTTED_CUE = re.compile(r"^\s*(?:条|款|节|项|clause|section)|(?:第|§|条款|clause|section|的)\s*$", re.I)


@dataclass(frozen=True)
class Reference:
    """One clause the question names: its spellings as documents write it, and which document."""

    spellings: tuple[str, ...]  # ("第四十二条", "第42条"), ("5.2.1",), ("附录A",)
    document: str = ""  # the document as the question names it: "专利代理条例", "GB/T 20003.1"
    year: int | None = None  # a version the question names


def _normal(name: str) -> str:
    """Compare names without 《》, spaces, dashes or the 中华人民共和国 prefix."""
    return re.sub(r"[《》\s\u3000\-—–－/]|中华人民共和国", "", name).upper()


def numeral(raw: str) -> int | None:
    """A clause or section number written in digits or in Chinese numerals ("42", "四十二"), or None."""
    try:
        return int(raw) if raw.isdigit() else int(cn2an(raw, "smart"))
    except ValueError:
        return None


def parse_references(question: str) -> list[Reference]:
    """Every clause or article the question names, in order of appearance."""
    standards = list(_STANDARD.finditer(question))
    document = ""
    year: int | None = None
    if standards:
        first = standards[0]
        document = f"{first['code'].upper()} {first['num']}"
        year = int(first["year"]) if first["year"] else None
    rest = _STANDARD.sub(" ", question)  # standard numbers are not clause numbers
    titles = _TITLE.findall(rest)
    named = _LAW_NAME.search(rest)
    if titles:
        document = document or titles[0]
    elif named:
        document = document or named.group(1)
    if year is None:
        years = [int(m.group(1)) for m in _YEAR.finditer(rest) if not rest[m.end():m.end() + 1].isdigit()]
        year = years[0] if years else None
    found: list[tuple[int, tuple[str, ...]]] = []
    for m in _ARTICLE.finditer(rest):
        number = numeral(m.group(1))
        if number is None:
            continue
        found.append((m.start(), (f"第{an2cn(number)}条", f"第{number}条")))
    for m in _ANNEX.finditer(rest):
        found.append((m.start(), (f"附录{(m.group(1) or m.group(2)).upper()}",)))
    for m in _DOTTED.finditer(rest):
        before, after = rest[max(0, m.start() - 8):m.start()], rest[m.end():m.end() + 8]
        if document or _DOTTED_CUE.search(before) or _DOTTED_CUE.search(after):
            found.append((m.start(), (m.group(1),)))
    return [Reference(spellings, document, year) for _, spellings in sorted(found)]


def _year_of(hit: Hit) -> int:
    """A document's version year, from its label (``（2018年修订）``, ``T/LKA 001-2024``)."""
    years = re.findall(r"(?:19|20)\d{2}", f"{hit.cite_as} {hit.standard}")
    return int(years[-1]) if years else 0


def _names(hit: Hit) -> list[str]:
    return [n for n in (_normal(hit.title), _normal(hit.cite_as), _normal(hit.standard)) if n]


def _document_matches(hit: Hit, document: str) -> bool:
    wanted = _normal(document)
    return any(wanted in name or (len(name) >= 3 and name in wanted) for name in _names(hit))


def _annex_chunks(index: KnowledgeIndex, letter: str, doc_ids: list[str], groups: list[str] | None) -> list[Hit]:
    """An annex's own text and its clauses (A.1, A.1.1 …) in the given documents."""
    return [
        h for doc_id in doc_ids for h in index.find(doc_id, groups=groups)
        if h.clause == f"附录{letter}" or h.clause.startswith(f"{letter}.")
    ]


def lookup(
    index: KnowledgeIndex, question: str, groups: list[str] | None = None, source: str | None = None, near: list[Hit] = ()
) -> tuple[list[Hit], bool]:
    """Chunks of the clauses the question names, best first, and whether it named their document.

    Without a named document every document holding the clause is returned (the caller orders
    them by the search results). ``near``: search results, whose documents are searched for an
    annex's clauses.
    """
    hits: list[Hit] = []
    named_document = False
    for reference in parse_references(question):
        candidates: list[Hit] = []
        for spelling in reference.spellings:
            candidates += index.find(None, clause=spelling, groups=groups)
        if reference.spellings[0].startswith("附录"):
            letter = reference.spellings[0][-1]
            doc_ids = list(dict.fromkeys(h.doc_id for h in [*candidates, *near]))
            candidates = list({h.id: h for h in [*candidates, *_annex_chunks(index, letter, doc_ids, groups)]}.values())
        if source:
            candidates = [h for h in candidates if h.source == source]
        if reference.document:  # a document the index does not hold: its clause is not some other document's
            candidates = [h for h in candidates if _document_matches(h, reference.document)]
            named_document = named_document or bool(candidates)
        if reference.year is not None and any(_year_of(h) == reference.year for h in candidates):
            candidates = sorted(candidates, key=lambda h: _year_of(h) != reference.year)
        else:
            candidates = sorted(candidates, key=lambda h: -_year_of(h))  # the newest version first
        hits += candidates
    return list({h.id: h for h in hits}.values()), named_document


def prefer_newer(hits: list[Hit], question: str) -> list[Hit]:
    """Of the same clause in two versions of one document, the newer first (unless the question names the older year)."""
    named_years = {int(y) for y in re.findall(r"(?:19|20)\d{2}", question)}
    out = list(hits)
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            a, b = out[i], out[j]
            same = a.doc_id != b.doc_id and a.clause == b.clause and _normal(a.title) == _normal(b.title)
            if same and _year_of(b) > _year_of(a) and _year_of(a) not in named_years:
                out[i], out[j] = b, a
    return out


def search_with_references(
    index: KnowledgeIndex, query: str, k: int = 5, source: str | None = None, groups: list[str] | None = None, mode: str = "hybrid"
) -> list[Hit]:
    """Clauses the question names first (looked up), then the search results."""
    hits = index.search(query, k=k, source=source, groups=groups, mode=mode)
    exact, named_document = lookup(index, query, groups, source, near=hits)
    if exact and not named_document:
        # The question names a clause but not its document: the documents the search favours first.
        rank = {}
        for position, hit in enumerate(hits):
            rank.setdefault(hit.doc_id, position)
        exact = sorted(exact, key=lambda h: rank.get(h.doc_id, len(hits)))[:2]
    else:
        exact = exact[:k]
    searched = {h.id: h for h in hits}
    exact = [searched.get(h.id, h) for h in exact]  # keep the search scores where the search found it too
    top = max((h.score for h in hits), default=1.0)
    for hit in exact:
        if hit.id not in searched:
            hit.score = top  # looked up, not searched: ranked with the best
    seen = {h.id for h in exact}
    return prefer_newer([*exact, *(h for h in hits if h.id not in seen)], query)[:k]
