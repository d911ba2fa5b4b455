"""Read rendered reports back as plain text, in document order."""

from __future__ import annotations

import html
import io
import re
import zipfile

from docx import Document
from docx.table import Table
from markdown_it import MarkdownIt


def docx_text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    parts: list[str] = []
    for block in doc.iter_inner_content():
        if isinstance(block, Table):
            parts += [cell.text for row in block.rows for cell in row.cells]
        else:
            parts.append(block.text)
    return "\n".join(parts)


def odt_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("content.xml").decode("utf-8")
    return re.sub(r"<[^>]+>", "\n", xml)


def in_order(text: str, facts: list[str]) -> list[str]:
    """The facts that are missing or out of order (each searched after the previous one)."""
    wrong, cursor = [], 0
    for fact in facts:
        found = text.find(fact, cursor)
        if found < 0:
            wrong.append(fact)
        else:
            cursor = found + len(fact)
    return wrong


def markdown_html(markdown: str) -> str:
    """The page a Markdown viewer makes of ``markdown`` (CommonMark, raw HTML passed through as
    most viewers do)."""
    return str(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))


def markdown_seen(markdown: str) -> str:
    """What a reader of the rendered Markdown sees: the page's text."""
    return html.unescape(re.sub(r"<[^>]+>", "", markdown_html(markdown)))
