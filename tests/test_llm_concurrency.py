"""LLM mode under load: answers wait for a slow model on their own threads, never on the event loop
or on the threads every other endpoint needs.

A fake OpenAI-compatible model on 127.0.0.1 holds every reply; while more chats than the
server's default threadpool holds (40) wait for it, /healthz and a search must still answer at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from pydantic import SecretStr

from agent_support import FakeOpenAI
from assistant.agent.service import AssistantService
from assistant.surfaces.api import create_app
from assistant.surfaces.limits import server_options
from http_servers import serve_app

CHATS = 50


class HeldReplies:
    """A FakeOpenAI script that never runs out: every model call waits until the test releases it,
    so the chats wait on the model together however long this machine takes to bring them there."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __bool__(self) -> bool:
        return True

    def pop(self, index: int):
        return ("hold", self.release)


@pytest.mark.slow  # 50 concurrent chats against a slow model: a load test
def test_slow_llm_chats_leave_health_and_search_fast(shipped_settings, shipped_index, tmp_path):
    with FakeOpenAI() as llm:
        script = llm.script = HeldReplies()
        llm.httpd.socket.listen(128)  # all chats connect at once; http.server's backlog of 5 would refuse some
        settings = shipped_settings.model_copy(update={
            "data_dir": tmp_path, "llm_base_url": llm.base_url, "llm_model": "slow-model",
            "llm_api_key": SecretStr("k"), "llm_timeout": 300.0, "llm_max_retries": 0,
        })
        service = AssistantService(settings, index=shipped_index)
        with serve_app(create_app(settings, service), **server_options(settings)) as url:
            statuses: list[int] = []

            async def chat(http: httpx.AsyncClient) -> None:
                reply = await http.post("/api/chat", json={"question": "标准必要专利的许可声明有哪些要求？"})
                statuses.append(reply.status_code)

            async def chats() -> None:
                async with httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=CHATS)) as http:
                    await asyncio.gather(*(chat(http) for _ in range(CHATS)))

            load = threading.Thread(target=asyncio.run, args=(chats(),))
            load.start()
            try:
                deadline = time.monotonic() + 240
                while len(llm.requests) < CHATS and not statuses and time.monotonic() < deadline:
                    time.sleep(0.05)
                # every chat waits on the model: more than Starlette's threadpool (40) holds
                assert len(llm.requests) == CHATS, f"{len(llm.requests)} chats reached the model; finished early: {statuses}"
                with httpx.Client(base_url=url, timeout=30) as http:
                    started = time.monotonic()
                    assert http.get("/healthz").status_code == 200
                    health = time.monotonic() - started
                    started = time.monotonic()
                    assert http.get("/api/search", params={"q": "专利导航"}).json()["hits"]
                    search = time.monotonic() - started
            finally:
                script.release.set()
                load.join(timeout=300)
    assert health < 1.0, f"/healthz took {health:.1f}s behind slow LLM chats"
    assert search < 2.0, f"a search took {search:.1f}s behind slow LLM chats"
    assert statuses == [200] * CHATS


def test_concurrent_first_searches_load_the_tokenizer_once(shipped_settings):
    """A burst of first requests (a fresh server, or a dictionary evicted from the cache) shares one jieba load."""
    from assistant.index import lexical

    user_dict = str(shipped_settings.corpus_dir / "terms.txt")
    lexical._load_tokenizer.cache_clear()
    loaded: list[object] = []
    threads = [threading.Thread(target=lambda: loaded.append(lexical.jieba_tokenizer(user_dict))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(t) for t in loaded}) == 1
