"""HTML and Markdown renderings of a Report, from the Jinja2 templates beside this module."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from onthedot.record.report.model import Report

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = _cell
    return env


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell: no pipes or line breaks that would split it."""
    return value.replace("|", "\\|").replace("\n", " ")


def to_html(report: Report) -> str:
    return _environment(True).get_template("report.html.j2").render(r=report)


def to_markdown(report: Report) -> str:
    text = _environment(False).get_template("report.md.j2").render(r=report)
    return _squeeze(text)


def _squeeze(text: str) -> str:
    """At most one blank line between blocks."""
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"
