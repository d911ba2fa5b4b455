"""The breach report: a model built once from the record (``model.build``), rendered as DOCX
(python-docx), ODT (odfpy), HTML and Markdown (Jinja2 templates in ``templates/``).

    assessment = await assess(engine, release, policy=policy)
    report = build(assessment, today=date.today())
    data = render(report, "docx")
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from onthedot.errors import InputError
from onthedot.record import REPORT_FORMATS as FORMATS
from onthedot.record.report.assess import Assessment, assess
from onthedot.record.report.model import Report, build
from onthedot.record.report.text import to_html, to_markdown


def render(report: Report, fmt: str) -> bytes:
    """The report as the bytes of a file in ``fmt`` (docx, odt, html or md)."""
    renderers: dict[str, Callable[[Report], bytes]] = {
        "docx": lambda r: _docx(_xml_text(r)),
        "odt": lambda r: _odt(_xml_text(r)),
        "html": lambda r: to_html(r).encode("utf-8"),
        "md": lambda r: to_markdown(r).encode("utf-8"),
    }
    if fmt not in renderers:
        raise InputError(f"{fmt!r} is not a report format: use one of {', '.join(FORMATS)}.")
    return renderers[fmt](report)


_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> Any:
    """``value`` (the report, a row, a string) with every character an XML document cannot hold
    (a control character someone typed into a title, say) shown as U+FFFD instead."""
    if isinstance(value, str):
        return _NOT_IN_XML.sub("\ufffd", value)
    if isinstance(value, tuple):
        return tuple(_xml_text(item) for item in value)
    if isinstance(value, dict):
        return {key: _xml_text(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _xml_text(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)
    return value


def _docx(report: Report) -> bytes:
    from onthedot.record.report.docx import to_docx

    return to_docx(report)


def _odt(report: Report) -> bytes:
    from onthedot.record.report.odt import to_odt

    return to_odt(report)


__all__ = ["FORMATS", "Assessment", "Report", "assess", "build", "render"]
