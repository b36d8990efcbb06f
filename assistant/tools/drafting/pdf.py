"""Word → PDF through LibreOffice (``soffice --headless --convert-to pdf``), when it is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from assistant.errors import LinkageError

_TIMEOUT_S = 180
FONTS_CONF = Path(__file__).with_name("fonts.conf")
_PAGE_NUMBER = re.compile(r"—\s*(\d+)\s*—")


class PdfUnavailableError(LinkageError):
    """LibreOffice is not installed (or failed), so no PDF can be made."""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def docx_to_pdf(content: bytes) -> bytes:
    """Convert with a private LibreOffice profile, so parallel conversions never share one."""
    program = soffice()
    if program is None:
        raise PdfUnavailableError("生成 PDF 需要 LibreOffice（soffice），本机未安装；请安装 LibreOffice，或改用 --format docx。")
    with tempfile.TemporaryDirectory(prefix="linkage-pdf-") as work:
        folder = Path(work)
        source = folder / "draft.docx"
        source.write_bytes(content)
        command = [
            program, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless", "--norestore",
            "--convert-to", "pdf", "--outdir", str(folder), str(source),
        ]
        try:
            env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF)}
            done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailableError(f"LibreOffice 转换 PDF 失败：{exc}") from None
        target = folder / "draft.pdf"
        if done.returncode != 0 or not target.exists():
            detail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
            raise PdfUnavailableError(f"LibreOffice 转换 PDF 失败：{detail[-1] if detail else '没有生成文件'}")
        return target.read_bytes()


def heading_pages(pdf: bytes, headings: list[str]) -> dict[str, str]:
    """The printed page number ("— n —" in the footer, else the page's place) of each heading: its
    last appearance as a line of its own (the table of contents, listing it too, comes first)."""
    import pypdfium2 as pdfium

    found: dict[str, str] = {}
    wanted = {re.sub(r"\s+", "", h): h for h in headings}
    document = pdfium.PdfDocument(pdf)
    for index in range(len(document)):
        text = document[index].get_textpage().get_text_range().replace("\r\n", "\n")
        printed = _PAGE_NUMBER.findall(text)
        for line in text.splitlines():
            heading = wanted.get(re.sub(r"\s+", "", line))
            if heading is not None:
                found[heading] = printed[-1] if printed else str(index + 1)
    return found
