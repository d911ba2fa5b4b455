"""The report as an OpenDocument text file (odfpy), for producers who work in LibreOffice."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

from odf import dc, meta
from odf.opendocument import OpenDocumentText
from odf.style import ParagraphProperties, Style, TableColumnProperties, TextProperties
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import H, List, ListItem, P

from onthedot.record.report.model import Report, Row


class _Styles:
    def __init__(self, doc: OpenDocumentText) -> None:
        self.warning = self._text(
            doc, "Warning", {"fontweight": "bold", "color": "#d4351c", "fontsize": "14pt"}
        )
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
    _properties(doc, report)
    st = _Styles(doc)
    styles = {"warning": st.warning, "guidance": st.guidance, "strong": st.strong}
    for block in report.blocks():
        if block.kind == "heading":
            doc.text.addElement(
                H(outlinelevel=block.level, stylename=f"Heading {block.level}", text=block.text)
            )
        elif block.kind == "para":
            style = styles.get(block.style)
            doc.text.addElement(
                P(stylename=style, text=block.text) if style else P(text=block.text)
            )
        elif block.kind == "bullets":
            doc.text.addElement(_list(block.items))
        else:
            doc.text.addElement(_form(st, f"Form{len(doc.text.childNodes)}", block.rows))
    buffer = io.BytesIO()
    doc.write(buffer)
    return buffer.getvalue()


def _properties(doc: OpenDocumentText, report: Report) -> None:
    """Author, title and dates of the document: the release's."""
    drafted = dt.datetime.combine(report.date, dt.time()).isoformat()
    for element in (
        dc.Title(text=report.document_title),
        dc.Subject(text=report.title),
        dc.Creator(text=report.author),
        meta.InitialCreator(text=report.author),
        meta.CreationDate(text=drafted),
        dc.Date(text=drafted),
    ):
        doc.meta.addElement(element)


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
