"""The report as a Word document (python-docx): the regulator's form is a Word document. Its
properties (author, title, dates, company) are the release's, never the library's: the library's
blank template also claims to be made by "Microsoft Macintosh Word" and carries a thumbnail of
an empty page; both are replaced."""

from __future__ import annotations

import datetime as dt
import io

from docx import Document
from docx.document import Document as DocumentObject
from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.shared import Pt, RGBColor
from markupsafe import escape

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
    _extended(doc, report)


def _extended(doc: DocumentObject, report: Report) -> None:
    """The extended properties (docProps/app.xml): the producer as the company, and no
    application named; the template's thumbnail of an empty page is left out."""
    package = doc.part.package
    rels = package.rels
    for rid, rel in list(rels.items()):
        if rel.reltype in (RELATIONSHIP_TYPE.THUMBNAIL, RELATIONSHIP_TYPE.EXTENDED_PROPERTIES):
            rels.pop(rid)
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'extended-properties"><Company>{escape(report.producer)}</Company></Properties>'
    )
    app = Part(
        PackURI("/docProps/app.xml"),
        CONTENT_TYPE.OFC_EXTENDED_PROPERTIES,
        xml.encode("utf-8"),
        package,
    )
    rels.get_or_add(RELATIONSHIP_TYPE.EXTENDED_PROPERTIES, app)


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
