"""Where a release's staged copies will wait, as ``check`` and ``preflight`` report it.

Apart from ``publish.staging`` (which uploads, flips and records, with the store and asyncio
behind it) so that ``onthedot check`` asks a target where it stages without loading any of that.
"""

from __future__ import annotations

from typing import cast

from onthedot.adapters import create
from onthedot.errors import InputError
from onthedot.model import Finding, Release, Severity
from onthedot.publish.targets.base import Target

STAGING_RULE = "publish.staging"


def staging_findings(release: Release) -> list[Finding]:
    """What ``check`` and ``preflight`` say about where the release's staged copies will wait: a
    warning when that is inside the served web root, an error when the target cannot be used."""
    site = release.site
    if site is None or not site.target or not any(a.file for a in release.artefact):
        return []
    line = release.line_of("site")
    try:
        target = cast(Target, create("target", site.target))
    except InputError as exc:
        return [Finding(rule=STAGING_RULE, severity=Severity.ERROR, message=str(exc), line=line)]
    if not target.stages_in_served_tree:
        return []
    message = (
        f"The staged copies of {release.id} will wait inside the served web root until the "
        "release time, where anyone who learns their names can fetch them: set staging= on the "
        f"target ({target.url()}) to a folder outside the web root on the same server."
    )
    return [Finding(rule=STAGING_RULE, severity=Severity.WARNING, message=message, line=line)]
