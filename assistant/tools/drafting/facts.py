"""The no-invention check: numbers, amounts and dates a text may only repeat, never make up."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from assistant.tools.records import ProjectRecord

WORD_JOINER = "\u2060"

PATENT_NUMBER = re.compile(
    r"(?<![A-Z0-9])(?:(?:CN|ZL)\s?\d{8,13}(?:\.[\dX]|[ABUY]\d?)?|PCT/[A-Z]{2}\d{4}/\d{5,6}|WO\s?\d{4}/\d{6}"
    r"|(?:US|EP|JP|KR)\s?\d{6,11}(?:\s?[AB]\d?)?)"
)
STANDARD_NUMBER = re.compile(
    r"(?<![A-Za-z0-9/])(?:"
    r"(?:GB/[TZ]|GB|[A-Z]{2,4}/[TZ]|T/[A-Z]{2,10})\s*\d{1,6}(?:\.\d{1,3})*(?:\s*[-—–]\s*\d{4})?"
    r"|[A-Z]{2}\s*\d{1,6}(?:\.\d{1,3})*\s*[-—–]\s*(?:19|20)\d{2}"
    r"|ISO(?:/IEC)?(?:/TS|/TR)?\s*\d{3,5}(?:-\d{1,3})*(?::\d{4})?"
    r"|IEC\s*\d{3,5}(?:-\d{1,3})*(?::\d{4})?"
    r"|3GPP\s*T[RS]\s*\d{2}\.\d{3}"
    r"|ETSI\s*(?:ES|EN|TS|TR|EG|GS)\s*\d{3}\s?\d{3}(?:-\d+)*"
    r"|ITU-T\s*[A-Z]\.\d{1,4}(?:\.\d+)?"
    r"|(?:IETF\s*)?RFC\s*\d{3,5}"
    r"|IEEE\s*\d{3,5}(?:\.\d+[a-z]*)?"
    r")"
)
_DATE = re.compile(
    r"(?<![\d.])((?:19|20)\d{2})\s*(?:年|[-/])\s*(\d{1,2})(?:\s*(?:月|[-/])\s*(\d{1,2})\s*日?|\s*月)?(?![\d.])"
)
_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?=\s*(?:年|[-—–]\s*(?:19|20)\d{2}\s*年))")
_ANY_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_AMOUNT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(亿元|万元|元)")
_UNIT = {"亿元": 1e8, "万元": 1e4, "元": 1.0}


def _nfkc(text: str) -> str:
    """Compatibility forms folded, and the word joiners a Word draft keeps numbers whole with dropped."""
    return unicodedata.normalize("NFKC", text).replace(WORD_JOINER, "")


def _canonical(token: str) -> str:
    """One spelling per number: no spaces, ASCII dashes, upper case, ZL… read as CN…."""
    token = re.sub(r"\s+", "", _nfkc(token)).upper()
    token = re.sub(r"[‐‑‒–—―−－]", "-", token)
    return re.sub(r"ZL(?=\d)", "CN", token)


def _mentioned(token: str, haystack: str) -> bool:
    return re.search(rf"(?<![A-Z0-9]){re.escape(_canonical(token))}(?![0-9]|\.[0-9])", haystack) is not None


def _dates(text: str) -> list[tuple[str, tuple[int, ...]]]:
    found = []
    for m in _DATE.finditer(text):
        year, month = int(m.group(1)), int(m.group(2))
        day = int(m.group(3)) if m.group(3) else None
        if 1 <= month <= 12 and (day is None or 1 <= day <= 31):
            found.append((m.group().strip(), (year, month, day) if day else (year, month)))
    return found


def _amounts(text: str) -> list[tuple[str, float]]:
    return [
        (m.group().strip(), round(float(m.group(1).replace(",", "") + (m.group(2) or "")) * _UNIT[m.group(3)], 2))
        for m in _AMOUNT.finditer(text)
    ]


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    elif value is not None:
        yield str(value)


def verify_no_invented_facts(text: str, record: ProjectRecord, corpus_texts: Iterable[str]) -> list[str]:
    """Patent numbers, standard numbers, amounts (元/万元/亿元) and dates in ``text`` that appear
    neither in the record nor in ``corpus_texts`` (the cited clauses, or any other trusted text).

    An empty list means nothing checkable was invented; otherwise the offending strings, in order.
    """
    sources = [_nfkc(s) for s in [*_flatten(record.model_dump(mode="json")), *corpus_texts]]
    haystack = "\n".join(_canonical(s) for s in sources)
    joined = "\n".join(sources)
    known_dates = {d for _, d in _dates(joined)} | {d[:2] for _, d in _dates(joined)}
    known_years = {int(y) for y in _ANY_YEAR.findall(joined)}
    known_amounts = {a for _, a in _amounts(joined)}
    if record.budget:
        wan = [record.budget.total_wan, *(i.wan for i in record.budget.items)]
        known_amounts |= {round(w * 1e4, 2) for w in wan if w is not None}

    text = _nfkc(text)
    invented: list[str] = []
    for pattern in (PATENT_NUMBER, STANDARD_NUMBER):
        invented += [m.group().strip() for m in pattern.finditer(text) if not _mentioned(m.group(), haystack)]
        text = pattern.sub(" ", text)
    invented += [raw for raw, d in _dates(text) if d not in known_dates]
    text = _DATE.sub(" ", text)
    invented += [f"{y}年" for y in _YEAR.findall(text) if int(y) not in known_years]
    invented += [raw for raw, amount in _amounts(text) if amount not in known_amounts]
    return list(dict.fromkeys(invented))
