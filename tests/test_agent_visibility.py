"""No answer or refusal may depend on records the asker cannot see (issue 13, item 2).

Two indexes differ only in the words of one record the asker has no access to. Every statistic
the answer is scored with (which words the knowledge base knows, how informative they are, how
many chunks there are) must come from what the asker may see, so the answers are identical.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.agent.service import AssistantService
from assistant.settings import SHIPPED_CORPUS, Settings
from assistant.tools.context import User

OUTSIDER = User(name="outsider", groups=["市场部"])  # may see no record at all
QUESTIONS = [
    "量子纠缠通信协议怎么做专利布局？",
    "区块链存证在联动项目中的作用是什么？",
    "石墨烯散热膜的许可声明有什么要求？",
    "钙钛矿光伏组件的标准跟踪怎么做？",
    "量子纠缠的必要专利怎么披露？",
    "区块链存证需要做对标跟踪吗？",
    "石墨烯散热膜算不算科技成果转化？",
    "钙钛矿光伏的团体标准征求意见多少天？",
    "联动指南规定的工作流程包括哪些阶段？",
    "必要专利的许可声明有哪几种选择？",
    "专利布局和标准化路径有什么关系？",
    "标准跟踪记录要写什么？",
    "许可声明要随什么材料提交？",
    "对标跟踪的交付物是什么？",
]
HIDDEN_WORDS = "量子纠缠通信协议、区块链存证、石墨烯散热膜、钙钛矿光伏组件的专利布局、标准跟踪、对标跟踪与许可声明，必要专利披露，科技成果转化，团体标准征求意见。"
HIDDEN_RECORDS = 40  # enough hidden chunks to move every corpus-wide statistic


def corpus_with_hidden_records(root: Path, summary: str) -> Path:
    corpus = root / "corpus"
    shutil.copytree(SHIPPED_CORPUS, corpus)
    record = (corpus / "records" / "P-2025-005.yaml").read_text(encoding="utf-8")
    for n in range(1, HIDDEN_RECORDS + 1):
        hidden = record.replace("id: P-2025-005", f"id: P-2099-{n:03d}").replace("access: [车路协同研究所, 标准化部]", "access: [绝密组]")
        hidden = hidden.replace("summary: |\n  ", f"summary: |\n  {summary}", 1)
        (corpus / "records" / f"P-2099-{n:03d}.yaml").write_text(hidden, encoding="utf-8")
    return corpus


def service_over(root: Path, summary: str) -> AssistantService:
    settings = Settings(data_dir=root / "data", corpus_dir=corpus_with_hidden_records(root, summary), embedding_backend="hashing", _env_file=None)
    service = AssistantService(settings)
    service.update_index(User.local_admin())
    return service


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    plain = service_over(tmp_path_factory.mktemp("plain"), "本段只有普通的项目说明文字。")
    loaded = service_over(tmp_path_factory.mktemp("loaded"), HIDDEN_WORDS)
    return plain, loaded


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_do_not_depend_on_words_in_invisible_records(services, question):
    plain, loaded = services
    a, b = (s.ask(question, OUTSIDER) for s in (plain, loaded))
    assert (a.grounded, a.answer, [(c.doc_id, c.clause, c.quote) for c in a.citations]) == (b.grounded, b.answer, [(c.doc_id, c.clause, c.quote) for c in b.citations])
    assert "P-2099" not in a.answer + b.answer


@pytest.mark.parametrize("question", QUESTIONS)
def test_retrieval_scores_do_not_depend_on_words_in_invisible_records(services, question):
    """BM25's document frequencies and average length come from what the asker may see, so every
    visible chunk gets the same lexical score over both indexes (not only the same answer).

    Compared as sets per score: chunk ids include the corpus path, which differs between the two
    indexes, so chunks of equal score may come in another order."""

    def scored(service: AssistantService) -> list[tuple]:
        index = service._ctx.index
        ranked = index.lexical(question, index.count(), OUTSIDER.groups)
        hits = index.get([chunk_id for chunk_id, _ in ranked])
        return sorted((score, h.doc_id, h.clause, h.text) for h, (_, score) in zip(hits, ranked, strict=True))

    plain, loaded = services
    assert scored(plain) and scored(plain) == scored(loaded)


def test_the_administrator_does_see_the_hidden_record(services):
    """The two indexes really differ: the record's words are there for someone allowed to see them."""
    _, loaded = services
    answer = loaded.ask("P-2099-001 的技术摘要是什么？", User.local_admin())
    assert "石墨烯散热膜" in answer.answer
