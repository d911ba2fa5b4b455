"""The report as an OpenDocument text file (odfpy), for producers who work in LibreOffice."""

from __future__ import annotations

import io
from collections.abc import Sequence

from odf.opendocument import OpenDocumentText
from odf.style import ParagraphProperties, Style, TableColumnProperties, TextProperties
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import H, List, ListItem, P

from onthedot.record.report.model import RECORD_HEADING, Report, Row


class _Styles:
    def __init__(self, doc: OpenDocumentText) -> None:
        self.warning = self._text(doc, "Warning", {"fontweight": "bold", "color": "#d4351c", "fontsize": "14pt"})
        self.guidance = self._text(doc, "Guidance", {"fontstyle": "italic", "color": "#505a5f"})
        self.strong = self._text(doc, "Strong", {"fontweight": "bold"})
        self.column = Style(name="FormColumn", family="table-column")
        self.column.addElement(TableColumnProperties(columnwidth="8cm"))
        doc.automaticstyles.addElement(self.column)
        for level in (1, 2, 3):
            heading = Style(name=f"Heading {level}", family="paragraph")
            heading.addElement(TextProperties(fontweight="bold", fontsize=f"{20 - 3 * level}pt"))
            heading.addElement(ParagraphProperties(margintop="0.3cm", marginbottom="0.2cm"))
            doc.styles.addElement(heading)

    @staticmethod
    def _text(doc: OpenDocumentText, name: str, props: dict[str, str]) -> Style:
        style = Style(name=name, family="paragraph")
        style.addElement(TextProperties(**props))
        doc.styles.addElement(style)
        return style


def to_odt(report: Report) -> bytes:
    doc = OpenDocumentText()
    st = _Styles(doc)
    body = doc.text
    body.addElement(H(outlinelevel=1, stylename="Heading 1", text=report.heading))
    if report.warning:
        body.addElement(P(stylename=st.warning, text=report.warning))
    _heading(body, 2, "1. Core information")
    body.addElement(_form(st, "Core", report.core))
    _heading(body, 2, "2. Circumstances of breach")
    if not report.breached:
        body.addElement(P(stylename=st.strong, text="No breach of the Code's release practices was found for this release."))
    _heading(body, 3, "Relevant principle(s) and practice(s)")
    body.addElement(_list(report.citations or ("Not applicable: no breach was found.",)))
    body.addElement(P(text=report.edition_note))
    _heading(body, 3, "Account of what happened")
    body.addElement(P(stylename=st.guidance, text=report.guidance["account"]))
    for text in (report.due, report.clock_note, *report.account):
        body.addElement(P(text=text))
    for text in report.summary:
        body.addElement(P(stylename=st.strong, text=text))
    _heading(body, 2, "3. Impact of the breach")
    body.addElement(P(stylename=st.guidance, text=report.guidance["impact"]))
    body.addElement(_form(st, "Impact", report.impact_prompts))
    body.addElement(P(text="Facts that help:"))
    body.addElement(_list(report.impact_facts))
    _heading(body, 2, "4. Corrective actions (taken or planned) to prevent re-occurrence")
    body.addElement(P(stylename=st.guidance, text=report.guidance["actions"]))
    _heading(body, 3, "Short-term actions taken")
    body.addElement(_list(report.short_term))
    _heading(body, 3, "Longer-term changes suggested from the diagnosis")
    longer = report.longer_term or ("Not applicable: no breach was found.",)
    body.addElement(_list((*longer, "[To be completed by the producer: the changes agreed, who will make them, and when.]")))
    _heading(body, 2, RECORD_HEADING)
    body.addElement(P(text=report.record))
    buffer = io.BytesIO()
    doc.write(buffer)
    return buffer.getvalue()


def _heading(body: object, level: int, text: str) -> None:
    body.addElement(H(outlinelevel=level, stylename=f"Heading {level}", text=text))  # type: ignore[attr-defined]


def _form(st: _Styles, name: str, rows: Sequence[Row]) -> Table:
    table = Table(name=name)
    table.addElement(TableColumn(numbercolumnsrepeated=2, stylename=st.column))
    for row in rows:
        tr = TableRow()
        for text in (row.label, " ".join(p for p in (row.text, row.link or "") if p)):
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=text))
            tr.addElement(cell)
        table.addElement(tr)
    return table


def _list(items: Sequence[str]) -> List:
    found = List()
    for item in items:
        entry = ListItem()
        entry.addElement(P(text=item))
        found.addElement(entry)
    return found
