"""The draft as Markdown: the same content as the Word file, for review, chat replies and an LLM polish."""

from __future__ import annotations

from assistant.tools.drafting.document import Bullets, Document, Heading, Para


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    out += [f"**{label}**：{value}  " for label, value in doc.front]
    out += ["", f"> {doc.disclaimer}", "", "---", ""]
    for node in doc.body:
        if isinstance(node, Heading):
            out += ["#" * (node.level + 1) + f" {node.text}", ""]
        elif isinstance(node, Para):
            text = f"*{node.text}*" if node.style in ("notice", "sources") and node.text else node.text
            out += [(f"**{node.label}**：{text}" if node.label else text), ""]
        elif isinstance(node, Bullets):
            out += [f"- {item}" for item in node.items] + [""]
        else:
            out += ["| " + " | ".join(map(_cell, node.header)) + " |", "|" + "---|" * len(node.header)]
            out += ["| " + " | ".join(map(_cell, row)) + " |" for row in node.rows] + [""]
    return "\n".join(out).rstrip() + "\n"
