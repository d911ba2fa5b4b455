"""Every alert and held-step address checked with the alert services themselves, where it is
written: ``[notify]`` and ``[[gates.RELEASE]]`` in onthedot.toml, ``[[gate]]`` in a release file;
and a release file's publishing target and purge addresses (``publish.site_urls``).

Each address no service can use is one ``file:line: key: sentence`` (its secrets masked), found by
``onthedot check`` and when ``onthedot run`` starts or reads the release files again, never at
the release time. A bad address in onthedot.toml stops ``onthedot run`` before anything is
published; one in a release file makes that file a broken release file (as a malformed address
does), so the others still load.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from onthedot.config import Config, ReleaseFiles
from onthedot.model import Release
from onthedot.problems import Loc, problem
from onthedot.settings import NOTIFY_ROLES
from onthedot.tomlpos import TomlPositions


def config_problems(config: Config) -> list[str]:
    """``file:line: notify.role[i]: ...`` (or ``gates.RELEASE[i].send``) for each address of
    onthedot.toml no alert service can use."""
    notifies = bool(config.notify.model_fields_set & {*NOTIFY_ROLES, "releases"})
    if config.path is None or not (notifies or config.gates):
        return []
    from onthedot.respond.channels import problems  # (with what it needs, only when used)

    notify = config.notify
    tables: list[tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = [
        (("notify",), notify.recipients(""))
    ]
    for rid, own in notify.releases.items():
        tables.append(
            (("notify", "releases", rid), {r: getattr(own, r) for r in own.model_fields_set})
        )
    found: list[tuple[Loc, str]] = [
        ((*loc, role, i), what)
        for loc, recipients in tables
        for role, i, what in problems(recipients)
    ]
    for rid, gates in config.gates.items():  # [[gates.<release>]]: the held steps' addresses
        sends = {"send": tuple(g.send for g in gates)}
        found += [(("gates", rid, i, "send"), what) for _, i, what in problems(sends)]
    return _located(config.path, found)


def release_problems(release: Release) -> list[str]:
    """``file:line: gate[i].send: ...`` for each held step of the release file whose address no
    alert service can use, and ``file:line: site.target: ...`` (or ``site.purge[i]``) for each
    publishing address no adapter can use (``publish.site_urls``)."""
    if release.source is None:
        return []
    from onthedot.publish.site_urls import url_problems

    found: list[tuple[Loc, str]] = url_problems(release)
    if release.gate:
        from onthedot.respond.channels import problems

        sends = {"send": tuple(g.send for g in release.gate)}
        found += [(("gate", i, "send"), what) for _, i, what in problems(sends)]
    return _located(release.source, found)


def checked(files: ReleaseFiles) -> ReleaseFiles:
    """``files`` with each release whose held steps have an address no service can use moved
    to the broken files, with its problems."""
    kept, broken = [], dict(files.broken)
    for release in files.releases:
        found = release_problems(release)
        if found and release.source is not None:
            broken[release.source] = found
        else:
            kept.append(release)
    return replace(files, releases=kept, broken=broken)


def _located(path: Path, found: list[tuple[Loc, str]]) -> list[str]:
    if not found:
        return []
    positions = TomlPositions(path.read_text(encoding="utf-8"))
    return [problem(path, positions, loc, what) for loc, what in found]
