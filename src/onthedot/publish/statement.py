"""The statement about a breach, put on the producer's site through the release's publish target
(staged, then moved into place), and recorded on the timeline."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import tempfile
from pathlib import Path
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.adapters import create
from onthedot.errors import ConfigError, InputError
from onthedot.model import Release, path_fault
from onthedot.publish.targets.base import Target
from onthedot.record import kinds
from onthedot.record.timeline import Timeline

STATEMENT_SUFFIXES = (".html", ".htm")


def check_statement_path(release: Release, path: str) -> str:
    """A path the statement may be published at: a plain path (the artefact-path rule) to an HTML
    page that is none of the release's own files. Returns it; InputError (one sentence) if not."""
    fault = path_fault(path)
    if fault is not None:
        raise InputError(f"The statement path {path!r} {fault}: give another --publish path.")
    if path in {a.path for a in release.artefact}:
        raise InputError(
            f"{path} is one of the files of {release.id}, so publishing the statement there would "
            "replace it: give the statement its own path, e.g. /statistics/statement.html."
        )
    if not path.lower().endswith(STATEMENT_SUFFIXES):
        raise InputError(
            f"The statement is an HTML page, so its path must end in .html, not {path}: "
            "give a path such as /statistics/statement.html."
        )
    return path


async def publish_statement(
    engine: AsyncEngine, release: Release, html: str, path: str, *, by: str = "onthedot"
) -> str:
    """Put the fragment at ``path`` on the site through the release's target; record it; its URL."""
    check_statement_path(release, path)
    site = release.site
    if site is None or not site.target:
        raise ConfigError(
            f"The release {release.id} has no [site] target to publish the statement through: add "
            "one, or publish the file written with -o by hand."
        )
    data = html.encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "statement.html"
        await asyncio.to_thread(local.write_bytes, data)
        async with cast(Target, create("target", site.target)) as target:
            staged = await target.stage(
                path, local, hashlib.sha256(data).hexdigest(), secrets.token_hex(16)
            )
            await target.flip(staged)
    url = site.url(path)
    await Timeline(engine).append(
        release.id, kinds.STATEMENT_PUBLISHED, {"url": url, "by": by}, actor=by, source="cli"
    )
    return url
