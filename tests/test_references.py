"""Exact references: questions naming a clause or article find it first, in every format; versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.index import KnowledgeIndex
from assistant.index.references import parse_references
from assistant.settings import Settings
from assistant.tools.context import ToolContext
from assistant.tools.search import search_knowledge

DATA = Path(__file__).parent / "data"
REGULATIONS = [DATA / "regulation" / "联动工作管理办法-2021.md", DATA / "regulation" / "联动工作管理办法-2023.md", DATA / "real-laws"]


def _context(tmp_path_factory, paths: list[Path]) -> ToolContext:
    settings = Settings(data_dir=tmp_path_factory.mktemp("refs"), embedding_backend="hashing", _env_file=None)
    index = KnowledgeIndex(settings)
    report = index.sync(paths)
    assert not report.errors, report.errors
    return ToolContext(settings, _index=index)


@pytest.fixture(scope="module", params=["md", "docx", "pdf"])
def standard_ctx(request, tmp_path_factory):
    return _context(tmp_path_factory, [DATA / "standard" / f"T-LKA-001-2024.{request.param}"])


@pytest.fixture(scope="module")
def law_ctx(tmp_path_factory):
    return _context(tmp_path_factory, REGULATIONS)


def _top3(ctx, question):
    return [h.citation for h in search_knowledge(ctx, question, k=3)]


@pytest.mark.parametrize(
    "question, spellings, document",
    [
        ("专利法第四十二条讲了什么？", ("第四十二条", "第42条"), "专利法"),
        ("第42条", ("第四十二条", "第42条"), ""),
        ("《专利代理条例》第10条怎么规定的", ("第十条", "第10条"), "专利代理条例"),
        ("GB/T 20003.1 的 3.2 是什么", ("3.2",), "GB/T 20003.1"),
        ("5.2.1 条要求记录什么", ("5.2.1",), ""),
        ("附录 A 有哪些字段", ("附录A",), ""),
        ("What does clause 4.2 require?", ("4.2",), ""),
    ],
)
def test_references_are_parsed_in_chinese_and_arabic_numerals(question, spellings, document):
    references = parse_references(question)
    assert [r.spellings for r in references] == [spellings]
    assert references[0].document == document


@pytest.mark.parametrize("question", ["预算 2.5 万元够吗？", "GB/T 20003.1-2014 讲了什么", "2024 年有哪些新项目"])
def test_numbers_that_are_not_clauses_are_not_references(question):
    assert parse_references(question) == []


def test_a_named_version_year_is_kept():
    assert parse_references("2021年版联动工作管理办法第六条")[0].year == 2021


@pytest.mark.parametrize(
    "question, expected",
    [
        ("T/LKA 001 的 4.2 是怎么规定的？", "T/LKA 001-2024 §4.2"),
        ("4.2 条", "T/LKA 001-2024 §4.2"),
        ("3.2 条定义了什么术语", "T/LKA 001-2024 §3.2 联动台账"),
        ("第 5.2.2 条对必要专利候选有什么要求", "T/LKA 001-2024 §5.2.2"),
        ("附录A里项目编号有什么格式要求", "T/LKA 001-2024 §A.1.1"),
        ("linkage ledger 的定义", "T/LKA 001-2024 §3.2 联动台账"),
        ("核查中发现的问题多久内整改？", "T/LKA 001-2024 §6.3"),
    ],
)
def test_standard_clauses_in_the_top_three_in_every_format(standard_ctx, question, expected):
    assert expected in _top3(standard_ctx, question)


def test_a_named_clause_comes_first(standard_ctx):
    assert _top3(standard_ctx, "T/LKA 001—2024 的 5.3.1")[0] == "T/LKA 001-2024 §5.3.1"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("专利代理条例第十条讲了什么", "《专利代理条例》（2018年修订）第十条"),
        ("《专利代理条例》第10条", "《专利代理条例》（2018年修订）第十条"),
        ("标准化法实施条例第十八条", "《中华人民共和国标准化法实施条例》（1990年发布）第十八条"),
        ("中华人民共和国标准化法实施条例 第 18 条", "《中华人民共和国标准化法实施条例》（1990年发布）第十八条"),
        ("联动工作管理办法第五条规定了哪些职责", "《联动工作管理办法》（2023年修订）第五条"),
    ],
)
def test_articles_are_found_by_lookup_first(law_ctx, question, expected):
    assert _top3(law_ctx, question)[0] == expected


def test_a_clause_of_a_document_not_indexed_is_not_another_documents_clause(law_ctx):
    # 专利法 is not indexed; 标准化法实施条例 has a 第四十二条 of its own, which must not be offered as 专利法's
    assert "《中华人民共和国标准化法实施条例》（1990年发布）第四十二条" not in _top3(law_ctx, "专利法第四十二条")


def test_versions_are_kept_apart_and_the_newer_is_preferred(law_ctx):
    plain = _top3(law_ctx, "联动工作管理办法第六条")
    assert plain[:2] == ["《联动工作管理办法》（2023年修订）第六条", "《联动工作管理办法》（2021年4月1日施行）第六条"]
    older = _top3(law_ctx, "2021年版联动工作管理办法第六条")
    assert older[0] == "《联动工作管理办法》（2021年4月1日施行）第六条"
    hits = search_knowledge(law_ctx, "联动台账多久更新一次", k=3)
    assert hits[0].citation == "《联动工作管理办法》（2023年修订）第六条" and "每季度" in hits[0].text
