"""Index layer: Chroma (dense) + jieba/BM25 (lexical), fused by reciprocal rank."""

from assistant.index.store import Hit, IndexReport, KnowledgeIndex

__all__ = ["Hit", "IndexReport", "KnowledgeIndex"]
