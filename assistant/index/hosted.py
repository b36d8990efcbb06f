"""A JSON client for hosted model services (embeddings, rerank): timeouts, retries, Chinese errors.

Transient failures — a timeout, a dropped connection, HTTP 429 or 5xx — are retried with
exponential backoff; anything else the service refuses (a wrong key, an unknown model or path)
fails at once with a message naming the service and the setting to check.
"""

from __future__ import annotations

import httpx
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from assistant.errors import ModelServiceError


class _Transient(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ModelEndpoint:
    """POSTs JSON to ``{base_url}/{path}`` of one service (``what`` names it in messages, e.g. 嵌入服务)."""

    def __init__(self, what: str, base_url: str, api_key: str, url_setting: str, key_setting: str,
                 timeout: float = 30.0, max_retries: int = 3, backoff: float = 0.5):
        self.what = what
        self.base_url = base_url.rstrip("/")
        self._settings = (url_setting, key_setting)
        self._timeout = timeout
        self._attempts = max(1, max_retries + 1)
        self._backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def post(self, path: str, payload: dict) -> object:
        """The decoded JSON reply, after retrying transient failures."""
        url = f"{self.base_url}/{path}"
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=10),
            retry=retry_if_exception(lambda exc: isinstance(exc, _Transient)),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(url, payload)
        except RetryError as exc:
            reason = exc.last_attempt.exception().reason
            raise ModelServiceError(f"{self.what} {url} {reason}，已重试 {self._attempts - 1} 次，请检查服务是否正常运行。") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, url: str, payload: dict) -> object:
        url_setting, key_setting = self._settings
        try:
            response = self._client.post(url, json=payload)
        except httpx.TimeoutException:
            raise _Transient(f"在 {self._timeout:g} 秒内没有响应") from None
        except httpx.TransportError as exc:
            raise _Transient(f"无法连接（{type(exc).__name__}）") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Transient(f"暂时不可用（HTTP {status}）")
        if status in (401, 403):
            raise ModelServiceError(f"{self.what} {url} 拒绝了请求（HTTP {status}）：请检查 {key_setting}。")
        if status == 404:
            raise ModelServiceError(f"{self.what} {url} 不存在（HTTP 404）：请检查 {url_setting}（应指向服务的 /v1）和模型名。")
        if status >= 400:
            detail = response.text.strip().replace("\n", " ")[:200]
            raise ModelServiceError(f"{self.what} {url} 拒绝了请求（HTTP {status}：{detail}）。")
        try:
            return response.json()
        except ValueError:
            raise ModelServiceError(f"{self.what} {url} 返回的不是 JSON（HTTP {status}）。") from None

    def malformed(self, path: str, what_is_missing: str) -> ModelServiceError:
        return ModelServiceError(f"{self.what} {self.base_url}/{path} 的响应格式不对：{what_is_missing}。")
