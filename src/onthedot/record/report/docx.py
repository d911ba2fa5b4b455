"""The report as a Word document (python-docx): the regulator's form is a Word document."""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.document import Document as DocumentObject
from docx.shared import Pt, RGBColor

from onthedot.record.report.model import RECORD_HEADING, Report, Row

RED = RGBColor(0xD4, 0x35, 0x1C)
GREY = RGBColor(0x50, 0x5A, 0x5F)


def to_docx(report: Report) -> bytes:
    doc = Document()
    doc.core_properties.title = f"{report.heading} — {report.release_id}"
    doc.add_heading(report.heading, level=0)
    if report.warning:
        _warning(doc, report.warning)
    doc.add_heading("1. Core information", level=1)
    _form(doc, report.core)
    _circumstances(doc, report)
    doc.add_heading("3. Impact of the breach", level=1)
    _guidance(doc, report.guidance["impact"])
    _form(doc, report.impact_prompts)
    doc.add_paragraph("Facts that help:")
    _bullets(doc, report.impact_facts)
    doc.add_heading("4. Corrective actions (taken or planned) to prevent re-occurrence", level=1)
    _guidance(doc, report.guidance["actions"])
    doc.add_heading("Short-term actions taken", level=2)
    _bullets(doc, report.short_term)
    doc.add_heading("Longer-term changes suggested from the diagnosis", level=2)
    _bullets(doc, report.longer_term or ("Not applicable: no breach was found.",))
    _bullets(doc, ("[To be completed by the producer: the changes agreed, who will make them, and when.]",))
    doc.add_heading(RECORD_HEADING, level=1)
    doc.add_paragraph(report.record)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _circumstances(doc: DocumentObject, report: Report) -> None:
    doc.add_heading("2. Circumstances of breach", level=1)
    if not report.breached:
        doc.add_paragraph().add_run(
            "No breach of the Code's release practices was found for this release."
        ).bold = True
    doc.add_heading("Relevant principle(s) and practice(s)", level=2)
    _bullets(doc, report.citations or ("Not applicable: no breach was found.",))
    doc.add_paragraph(report.edition_note)
    doc.add_heading("Account of what happened", level=2)
    _guidance(doc, report.guidance["account"])
    for text in (report.due, report.clock_note, *report.account):
        doc.add_paragraph(text)
    for text in report.summary:
        doc.add_paragraph().add_run(text).bold = True


def _warning(doc: DocumentObject, text: str) -> None:
    run = doc.add_paragraph().add_run(text)
    run.bold = True
    run.font.size = Pt(14)
    run.font.color.rgb = RED


def _guidance(doc: DocumentObject, text: str) -> None:
    run = doc.add_paragraph().add_run(text)
    run.italic = True
    run.font.color.rgb = GREY


def _form(doc: DocumentObject, rows: Sequence[Row]) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for row in rows:
        label, value = table.add_row().cells
        label.text = row.label
        value.text = " ".join(p for p in (row.text, row.link or "") if p)
        if row.missing:
            for run in value.paragraphs[0].runs:
                run.italic = True


def _bullets(doc: DocumentObject, items: Sequence[str]) -> None:
    for item in items:
        doc.add_paragraph(item, style="List Bullet")
