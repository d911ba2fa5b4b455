"""The report as a Word document (python-docx): the regulator's form is a Word document. Its
properties (author, title, dates) are the release's, never the library's."""

from __future__ import annotations

import datetime as dt
import io

from docx import Document
from docx.document import Document as DocumentObject
from docx.shared import Pt, RGBColor

from onthedot.record.report.model import Block, Report

RED = RGBColor(0xD4, 0x35, 0x1C)
GREY = RGBColor(0x50, 0x5A, 0x5F)


def to_docx(report: Report) -> bytes:
    doc = Document()
    _properties(doc, report)
    for block in report.blocks():
        _write(doc, block)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _properties(doc: DocumentObject, report: Report) -> None:
    props = doc.core_properties
    drafted = dt.datetime.combine(report.date, dt.time(), tzinfo=dt.UTC)
    props.author = props.last_modified_by = report.author
    props.title, props.subject = report.document_title, report.title
    props.created = props.modified = drafted
    props.comments = props.keywords = ""
    props.revision = 1


def _write(doc: DocumentObject, block: Block) -> None:
    if block.kind == "heading":
        doc.add_heading(block.text, level=block.level - 1)
    elif block.kind == "para":
        _para(doc, block)
    elif block.kind == "bullets":
        for item in block.items:
            doc.add_paragraph(item, style="List Bullet")
    else:
        _form(doc, block)


def _para(doc: DocumentObject, block: Block) -> None:
    if not block.style:
        doc.add_paragraph(block.text)
        return
    run = doc.add_paragraph().add_run(block.text)
    run.bold = block.style in ("strong", "warning")
    run.italic = block.style == "guidance"
    if block.style == "warning":
        run.font.size = Pt(14)
        run.font.color.rgb = RED
    elif block.style == "guidance":
        run.font.color.rgb = GREY


def _form(doc: DocumentObject, block: Block) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for row in block.rows:
        label, value = table.add_row().cells
        label.text = row.label
        value.text = " ".join(p for p in (row.text, row.link or "") if p)
        if row.missing:
            for run in value.paragraphs[0].runs:
                run.italic = True
