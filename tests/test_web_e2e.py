"""The web chat page in a real browser (Debian's chromium driven by Playwright) against uvicorn."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest

from assistant.agent.service import AssistantService
from assistant.settings import ApiUser
from assistant.surfaces.api import create_app
from http_servers import serve_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def base_url(shipped_settings, shipped_index):
    settings = shipped_settings.model_copy(update={"api_keys": {"k-web": ApiUser(user="web", groups=["标准化部"])}})
    with serve_app(create_app(settings, AssistantService(settings, index=shipped_index))) as url:
        yield url


@pytest.fixture
def page(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
        ])
        context = browser.new_context(accept_downloads=True, locale="zh-CN")
        outside: list[str] = []

        def only_local(route):
            if route.request.url.startswith(base_url) or route.request.url.startswith(("blob:", "data:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        page.set_default_timeout(120_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        assert outside == [], "the page must work offline"
        assert errors == [], errors
        browser.close()


def test_ask_see_cited_answer_open_citation_check_project_and_download_draft(page, base_url, tmp_path):
    page.goto(base_url + "/")
    page.locator("summary", has_text="设置").click()
    page.get_by_test_id("api-key").fill("k-web")
    page.get_by_test_id("save-key").click()

    page.get_by_test_id("question").fill("标准必要专利的许可声明有哪些要求？")
    page.get_by_test_id("question").press("Enter")
    answer = page.get_by_test_id("answer").first
    answer.wait_for()
    assert "许可声明" in answer.locator(".answer-text").inner_text()
    footnotes = answer.get_by_test_id("footnote")
    assert footnotes.count() >= 1
    assert "GB/T 20003.1-2014" in footnotes.first.inner_text()

    answer.get_by_test_id("cite-ref").first.click()
    dialog = page.get_by_test_id("citation-dialog")
    dialog.wait_for(state="visible")
    assert "GB/T 20003.1-2014（摘要）" in dialog.locator("h3").inner_text()  # says it is our summary
    quoted = page.get_by_test_id("citation-text").locator("mark")
    quoted.wait_for()  # the whole clause arrived, with the quoted sentence marked
    clause_text = page.get_by_test_id("citation-text").inner_text()
    assert len(clause_text) > len(quoted.inner_text()) and "许可" in clause_text
    dialog.get_by_role("button", name="关闭").click()
    dialog.wait_for(state="hidden")

    answer.get_by_test_id("feedback-up").click()
    answer.get_by_text("感谢反馈").wait_for()

    page.get_by_test_id("project-picker").select_option("P-2025-001")
    checklist = page.get_by_test_id("checklist")
    checklist.locator("li").first.wait_for()
    assert "✅" in checklist.inner_text()
    assert "进入「立项」" in page.locator("#project-verdict").inner_text()

    with page.expect_download() as download_info:
        page.get_by_test_id("download-draft").click()
    download = download_info.value
    assert download.suggested_filename.startswith("P-2025-001") and download.suggested_filename.endswith(".docx")
    saved = tmp_path / "draft.docx"
    download.save_as(saved)
    assert zipfile.is_zipfile(saved)
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(saved.read_bytes())).paragraphs)
    assert "5G基站智能节能技术联动创新项目" in text

    page.reload()
    history = page.get_by_test_id("history").locator("button")
    assert history.count() == 1 and history.first.inner_text().startswith("标准必要专利")
    history.first.click()
    assert page.get_by_test_id("footnote").count() >= 1


def test_follow_up_uses_the_server_conversation(page, base_url):
    page.goto(base_url + "/")
    page.get_by_test_id("question").fill("什么是专利导航？")
    page.get_by_test_id("send").click()
    page.get_by_test_id("answer").nth(0).wait_for()
    page.get_by_test_id("question").fill("它对研发活动有什么要求？")
    page.get_by_test_id("send").click()
    page.get_by_test_id("answer").nth(1).wait_for()
    ids = page.evaluate(
        "() => JSON.parse(localStorage.getItem('linkage.conversations'))[0].messages.map(m => m.answer.conversation_id)"
    )
    assert len(ids) == 2 and ids[0] == ids[1]
