"""The breach report: a model built once from the record (``model.build``), rendered as DOCX
(python-docx), ODT (odfpy), HTML and Markdown (Jinja2 templates in ``templates/``).

    assessment = await assess(engine, release, policy=policy)
    report = build(assessment, today=date.today())
    data = render(report, "docx")
"""

from __future__ import annotations

from collections.abc import Callable

from onthedot.errors import InputError
from onthedot.record import REPORT_FORMATS as FORMATS
from onthedot.record.report.assess import Assessment, assess
from onthedot.record.report.model import Report, build
from onthedot.record.report.text import to_html, to_markdown


def render(report: Report, fmt: str) -> bytes:
    """The report as the bytes of a file in ``fmt`` (docx, odt, html or md)."""
    renderers: dict[str, Callable[[Report], bytes]] = {
        "docx": _docx,
        "odt": _odt,
        "html": lambda r: to_html(r).encode("utf-8"),
        "md": lambda r: to_markdown(r).encode("utf-8"),
    }
    if fmt not in renderers:
        raise InputError(f"{fmt!r} is not a report format: use one of {', '.join(FORMATS)}.")
    return renderers[fmt](report)


def _docx(report: Report) -> bytes:
    from onthedot.record.report.docx import to_docx

    return to_docx(report)


def _odt(report: Report) -> bytes:
    from onthedot.record.report.odt import to_odt

    return to_odt(report)


__all__ = ["FORMATS", "Assessment", "Report", "assess", "build", "render"]
