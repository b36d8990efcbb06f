"""Draft 立项 materials (Word, PDF or Markdown) from a project record, never inventing a fact.

The section structure of each kind of document is data (corpus/proposal_templates.yaml). Every
value comes from the record or from a cited clause; whatever the record lacks is written as
【待补充：…】, listed in ``Draft.missing`` and in the checklist at the end of the draft.
``verify_no_invented_facts`` is the check an LLM polish must pass. Modules: ``templates`` (the
YAML), ``document`` (the draft as nodes), ``markdown``/``word``/``pdf`` (output formats),
``org_template`` (an organisation's own .docx), ``facts`` (the no-invention check).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from assistant.errors import LinkageError
from assistant.tools.context import ToolContext
from assistant.tools.drafting.document import Document, Para, Polisher, build_document, polish_document
from assistant.tools.drafting.facts import verify_no_invented_facts
from assistant.tools.drafting.markdown import to_markdown
from assistant.tools.drafting.org_template import TemplateError, fill_template, open_template, placeholder_names
from assistant.tools.drafting.pdf import PdfUnavailableError, docx_to_pdf, heading_pages
from assistant.tools.drafting.templates import TEMPLATES_FILE, load_templates
from assistant.tools.drafting.word import to_docx_document
from assistant.tools.records import get_project

__all__ = [
    "DEFAULT_KIND", "FORMATS", "Document", "Draft", "Para", "PdfUnavailableError", "TemplateError",
    "UnknownDraftKindError", "draft_proposal", "polish_document", "verify_no_invented_facts",
]

DEFAULT_KIND = "联动创新项目立项建议书"
FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
}


class UnknownDraftKindError(LinkageError):
    """The requested kind of document has no template."""

    def __init__(self, kind: str, valid: list[str]):
        self.kind = kind
        self.valid = valid
        super().__init__(f"未知的文稿类型 {kind!r}。可用的类型：{'、'.join(valid)}")


@dataclass(frozen=True)
class Draft:
    """A generated document. ``text`` is its Markdown form (for review and for an LLM polish)."""

    filename: str
    content: bytes
    media_type: str
    missing: list[str]
    text: str
    generated_on: date
    polished: int = 0  # paragraphs whose LLM rewrite passed the checks
    rejected: list[str] = field(default_factory=list)  # facts an LLM rewrite invented (rewrite dropped)


def draft_proposal(
    ctx: ToolContext,
    project_id: str,
    kind: str = DEFAULT_KIND,
    fmt: str = "docx",
    today: date | None = None,
    polish: Polisher | None = None,
    template: Path | None = None,
) -> Draft:
    """Draft a 立项 document for a visible project from its record and the cited clauses.

    Kinds are the templates in corpus/proposal_templates.yaml (e.g. 联动创新项目立项建议书,
    团体标准项目建议书); ``fmt`` is "docx", "pdf" (through LibreOffice) or "md". ``template`` is an
    organisation's .docx to fill (default: the ``draft_template`` setting; Word and PDF only).
    Gaps are marked 【待补充：…】, never filled in. ``polish`` (an LLM rewrite of one paragraph)
    smooths the prose, under ``polish_document``'s checks.
    """
    templates = load_templates(ctx.settings.corpus_dir / TEMPLATES_FILE)
    kind = kind.strip()
    if kind not in templates.kinds:
        raise UnknownDraftKindError(kind, list(templates.kinds))
    fmt = fmt.strip().lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"未知格式 {fmt!r}，可选：{'、'.join(FORMATS)}")
    template = template or ctx.settings.draft_template
    organisation = open_template(Path(template)) if template and fmt != "md" else None
    record = get_project(ctx, project_id)
    generated = today or date.today()
    fields = placeholder_names(organisation) if organisation is not None else []
    doc = build_document(ctx, record, kind, templates, generated, fields)
    polished, rejected = polish_document(doc, record, polish) if polish else (0, [])
    markdown = to_markdown(doc)
    if fmt == "md":
        content = markdown.encode("utf-8")
    else:
        word, toc = fill_template(organisation, doc, doc.fields) if organisation is not None else to_docx_document(doc)
        word.core_properties.title = f"{doc.kind}：{doc.title}"
        word.core_properties.author = "联动助手"
        word.core_properties.created = datetime(generated.year, generated.month, generated.day)
        content = _save(word)
        if fmt == "pdf":
            content = docx_to_pdf(content)
            if toc:  # a second pass with the pages LibreOffice put the headings on
                for heading, page in heading_pages(content, list(toc)).items():
                    toc[heading].text = page
                content = docx_to_pdf(_save(word))
    return Draft(
        filename=f"{record.id}-{kind}.{fmt}",
        content=content,
        media_type=FORMATS[fmt],
        missing=list(doc.missing),
        text=markdown,
        generated_on=generated,
        polished=polished,
        rejected=rejected,
    )


def _save(word) -> bytes:
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()
