"""HTML and Markdown renderings of a Report, from the Jinja2 templates beside this module.

Both escape every value they are given: HTML with Jinja2's autoescape, Markdown with
``markdown_text`` (a title or a name is text, never markup a reader's viewer would run or link).
Links are the report's checked web addresses (``onthedot.model.web_url``), written as they are.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from onthedot.record.report.model import ANNEX_TIMES, Report

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        finalize=None if autoescape else _markdown_value,
    )
    env.filters["cell"] = _cell
    env.filters["url"] = _autolink_target
    return env


_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]|<>&]")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def markdown_text(value: str) -> str:
    """``value`` as literal Markdown text: no HTML (``<script>`` becomes ``&lt;script&gt;``), no
    links, images, emphasis or code spans, no table cell breaks; a reader sees the same characters."""
    return _MARKDOWN_SPECIAL.sub(lambda m: _ENTITIES.get(m[0]) or "\\" + m[0], value)


def _markdown_value(value: Any) -> Any:
    return (
        value if isinstance(value, Markup) or not isinstance(value, str) else markdown_text(value)
    )


def _autolink_target(url: str) -> Markup:
    """A link's address as a Markdown autolink (``<...>``) holds it: spaces, ``<>`` and the like
    percent-encoded, so the address cannot end the link early."""
    return Markup(quote(url, safe=_URL_SAFE))


_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def _cell(value: str) -> str:
    """Text for one Markdown table cell: no line breaks that would split it (pipes are escaped
    with every other special character)."""
    return value.replace("\r", " ").replace("\n", " ")


def to_html(report: Report) -> str:
    return (
        _environment(True).get_template("report.html.j2").render(r=report, annex_times=ANNEX_TIMES)
    )


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
