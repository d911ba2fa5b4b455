"""Record and report: the tamper-evident timeline, verification results (checks), breaches, the breach report, the register."""

from __future__ import annotations

REPORT_FORMATS = ("docx", "odt", "html", "md")
"""The file formats the breach report is drafted in (``onthedot report --format``)."""
