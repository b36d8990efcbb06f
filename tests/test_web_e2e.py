"""The web chat page in a real browser (Debian's chromium driven by Playwright) against uvicorn.

Screenshots of each size land in ``$WEB_SCREENSHOTS`` when that is set (to look at them).
"""

from __future__ import annotations

import io
import os
import re
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


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2B55]")


@pytest.fixture(scope="module")
def base_url(shipped_settings, shipped_index):
    settings = shipped_settings.model_copy(update={"api_keys": {"k-web": ApiUser(user="web", groups=["标准化部"])}})
    with serve_app(create_app(settings, AssistantService(settings, index=shipped_index))) as url:
        yield url


@pytest.fixture(scope="module")
def local_url(shipped_settings, shipped_index):
    """`linkage serve` on 127.0.0.1 with no API key: the local administrator's page."""
    settings = shipped_settings.model_copy(update={"api_keys": {}, "allow_anonymous": True})
    with serve_app(create_app(settings, AssistantService(settings, index=shipped_index), local_admin=True)) as url:
        yield url


def screenshot(page, name: str) -> None:
    folder = os.environ.get("WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


@pytest.fixture
def viewport():
    return DESKTOP


@pytest.fixture
def page(request, viewport):
    from playwright.sync_api import sync_playwright

    base_url = request.getfixturevalue("local_url" if "local" in request.node.name else "base_url")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
        ])
        context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport=viewport,
                                      is_mobile=viewport == PHONE, has_touch=viewport == PHONE)
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

    assert "已用 API 密钥登录：web（用户组：标准化部）" in page.get_by_test_id("access-note").inner_text()
    page.get_by_test_id("project-picker").select_option("P-2025-001")
    checklist = page.get_by_test_id("checklist")
    checklist.locator("li").first.wait_for()
    assert checklist.locator("li[data-status=met] .icon.met svg").count() >= 1  # drawn icons, not emoji
    assert not EMOJI.search(page.locator("body").inner_text())
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


def in_view(page, test_id: str) -> bool:
    box = page.get_by_test_id(test_id).bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] + box["width"] <= size["width"]


def record_answer_growth(page) -> None:
    """Note the length of the answer being streamed each time it changes."""
    page.evaluate("""() => {
        window.answerLengths = [];
        new MutationObserver(() => {
            const text = document.querySelector('.message.pending .answer-text');
            if (text) window.answerLengths.push(text.textContent.length);
        }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
    }""")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_local_page_picked_project_drives_the_chat(page, local_url, viewport):
    page.goto(local_url + "/")
    phone = viewport == PHONE
    assert in_view(page, "question") and in_view(page, "send")  # no scrolling to reach the question box
    screenshot(page, f"{'phone' if phone else 'desktop'}-start")
    assert not page.get_by_test_id("project-chip").is_visible()  # no project picked yet
    note = page.get_by_test_id("access-note")
    if phone:
        page.get_by_test_id("open-menu").click()
        page.wait_for_function("document.getElementById('sidebar').getBoundingClientRect().left >= 0")  # slid in
    note.wait_for()
    assert "本机管理员模式" in note.inner_text()
    picker = page.get_by_test_id("project-picker")
    page.wait_for_function("document.getElementById('project-picker').options.length > 1")
    assert picker.locator("option").count() == 8  # all seven projects, as in the CLI
    screenshot(page, f"{'phone' if phone else 'desktop'}-menu")
    picker.select_option("P-2025-002")
    page.get_by_test_id("checklist").locator("li").first.wait_for()
    assert page.get_by_test_id("checklist").locator("li[data-status=missing]").count() >= 1
    if phone:
        page.get_by_test_id("close-menu").click()
        page.wait_for_function("document.getElementById('sidebar').getBoundingClientRect().right <= 0")  # slid away
        assert not in_view(page, "project-picker")
    chip = page.get_by_test_id("project-chip")
    assert chip.is_visible() and "P-2025-002" in chip.inner_text()

    record_answer_growth(page)
    page.get_by_test_id("question").fill("这个项目能进入立项吗？")
    page.get_by_test_id("send").click()
    answer = page.get_by_test_id("answer").first
    answer.wait_for()
    text = answer.locator(".answer-text").inner_text()
    assert "P-2025-002" in text and "立项" in text and "请说明是哪个项目" not in text
    lengths = page.evaluate("window.answerLengths")
    assert len(set(lengths)) >= 5 and max(lengths) <= len(text) + 5, lengths  # the answer grew on screen
    assert answer.locator(".feedback svg").count() == 2 and not EMOJI.search(page.locator("body").inner_text())
    assert in_view(page, "question")
    screenshot(page, f"{'phone' if phone else 'desktop'}-answer")


def test_local_docs_and_redoc_render_offline(page, local_url):
    page.goto(local_url + "/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "联动助手 API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path", has_text="/api/chat").count() >= 1
    screenshot(page, "docs")
    page.goto(local_url + "/redoc")
    page.locator("h1", has_text="联动助手 API").wait_for()
    screenshot(page, "redoc")


def test_local_example_question_is_answered_from_the_workflow(page, local_url):
    page.goto(local_url + "/")
    page.locator(".example", has_text="项目评估阶段需要准备哪些材料？").click()
    answer = page.get_by_test_id("answer").first
    answer.wait_for()
    text = answer.locator(".answer-text").inner_text()
    assert "「评估」" in text and "交付物" in text and "知识产权检索" in text  # the 评估 stage, not 立项 materials
    assert answer.get_by_test_id("footnote").count() >= 1
