"""联动助手 — retrieval-augmented guide to technology–patent–standard linkage work."""

__version__ = "0.1.0"
