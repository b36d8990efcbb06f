"""Index layer: Chroma (dense) + jieba/BM25 (lexical), fused by reciprocal rank.

``indexer`` writes (discover, fingerprint, chunk, embed, store; locked and crash-safe), ``store``
is the Chroma access, ``retrievers`` read one committed generation, ``fusion`` combines their
rankings, and ``knowledge.KnowledgeIndex`` is the facade the tools and the service use.
"""

from assistant.index.indexer import IndexReport, Progress, report_dict
from assistant.index.knowledge import KnowledgeIndex
from assistant.index.store import Hit

__all__ = ["Hit", "IndexReport", "KnowledgeIndex", "Progress", "report_dict"]
