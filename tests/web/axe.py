"""axe-core (from npm, fetched by scripts/install into tests/web/axe-core, never committed) run inside
a Playwright page: the accessibility rules of WCAG 2.2 A and AA, and axe's best practices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).parent / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source() -> str:
    if not AXE.is_file():
        pytest.skip("axe-core is not fetched: run scripts/install (npm install axe-core)")
    return AXE.read_text(encoding="utf-8")


async def serious_violations(page: Any) -> list[str]:
    """Each serious or critical violation on ``page``: rule, impact and the first places."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=axe_source())
    found = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, "
        "where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))",
        TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {v['where']}" for v in found if v["impact"] in SERIOUS]
