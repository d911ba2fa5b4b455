"""The go-live curve: the share of URL × vantage points serving the new version, over time.

``curve(release, results)`` replays the stored results in the order they were taken: each
URL × vantage point counts as live from a result that found it live until one that found it
otherwise. The curve runs from 15 minutes before T to 30 minutes after, and on until everything
is live (or until the last result, when it never was). ``svg(curve, zone)`` draws it as a
self-contained SVG (no script, no external style) for the dashboard and the HTML breach report;
``sentence(curve, zone)`` says the same in words, for people who do not see the figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from onthedot.model import CheckResult, Release, Status
from onthedot.record.narrative import fmt_duration
from onthedot.verify.verifier import release_urls

BEFORE = dt.timedelta(minutes=15)
AFTER = dt.timedelta(minutes=30)
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36


@dataclass(frozen=True, slots=True)
class Point:
    at: dt.datetime
    share: float  # 0.0 … 1.0


@dataclass(frozen=True, slots=True)
class Curve:
    release_at: dt.datetime
    start: dt.datetime
    end: dt.datetime
    points: tuple[Point, ...]  # a step function: each share holds until the next point
    places: int  # URL × vantage points counted
    live_at: dt.datetime | None  # when every one was first live at once

    @property
    def latest(self) -> float:
        return self.points[-1].share if self.points else 0.0


def curve(release: Release, results: Sequence[CheckResult]) -> Curve:
    """The curve of ``release`` from its ``results`` (any order; only its own public URLs)."""
    urls = {t.public_url for t in release_urls(release)}
    mine = sorted((r for r in results if r.url in urls), key=lambda r: r.checked_at)
    vantages = {r.vantage for r in mine} or {"default"}
    places = len(urls) * len(vantages)
    start = release.release_at - BEFORE
    live: set[tuple[str, str]] = set()
    points = [Point(start, 0.0)]
    live_at = None
    for r in mine:
        key = (r.url, r.vantage)
        if r.status is Status.LIVE:
            live.add(key)
        else:
            live.discard(key)
        share = len(live) / places if places else 0.0
        at = max(r.checked_at, start)
        if points[-1].at == at:
            points[-1] = Point(at, share)
        elif points[-1].share != share:
            points.append(Point(at, share))
        if share >= 1.0 and live_at is None:
            live_at = r.checked_at
    last = mine[-1].checked_at if mine else start
    end = max(release.release_at + AFTER, live_at or last)
    return Curve(release.release_at, start, end, tuple(points), places, live_at)


def _clock(instant: dt.datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M")


def _lag(seconds: float) -> str:
    return f"{seconds:.1f} seconds" if seconds < 60 else fmt_duration(seconds)


def sentence(c: Curve, zone: ZoneInfo) -> str:
    """The curve in one sentence."""
    if c.places == 0:
        return "The release has no files to watch."
    if c.live_at is not None:
        lag = (c.live_at - c.release_at).total_seconds()
        when = c.live_at.astimezone(zone).strftime("%H:%M:%S")
        after = f"{_lag(lag)} after the release time" if lag >= 0 else "before the release time"
        return f"Every address was live from every vantage point at {when}, {after}."
    shown = round(c.latest * c.places)
    return (
        f"{shown} of {c.places} address and vantage point pairs served the new version at the "
        f"last look; not everything has been live at once yet."
    )


def svg(c: Curve, zone: ZoneInfo, *, ident: str = "go-live") -> Markup:
    """The curve as an accessible SVG figure (role img, with a title and a description)."""
    span = (c.end - c.start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: dt.datetime) -> float:
        return LEFT + plot_w * min(max((at - c.start).total_seconds() / span, 0.0), 1.0)

    def y(share: float) -> float:
        return TOP + plot_h * (1.0 - share)

    steps: list[str] = []
    for i, p in enumerate(c.points):
        if i:
            steps.append(f"{x(p.at):.1f},{y(c.points[i - 1].share):.1f}")
        steps.append(f"{x(p.at):.1f},{y(p.share):.1f}")
    steps.append(f"{x(c.end):.1f},{y(c.latest):.1f}")
    ticks = [c.start, c.release_at, c.release_at + dt.timedelta(minutes=15)]
    ticks += [c.release_at + AFTER] + ([c.end] if c.end > c.release_at + AFTER else [])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="onthedot-curve" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="max-width:{WIDTH}px" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">Go-live curve</title>',
        f'<desc id="{ident}-desc">{escape(sentence(c, zone))}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#f3f2f1"/>',
    ]
    for share in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
            f'stroke="#b1b4b6"/><text x="{LEFT - 6}" y="{y(share) + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#0b0c0c">{int(share * 100)}%</text>'
        )
    for at in ticks:
        parts.append(
            f'<text x="{x(at):.1f}" y="{HEIGHT - 14}" text-anchor="middle" font-size="12" '
            f'fill="#0b0c0c">{_clock(at, zone)}</text>'
        )
    t = x(c.release_at)
    parts += [
        f'<line x1="{t:.1f}" x2="{t:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#d4351c" '
        f'stroke-dasharray="4 3"/>',
        f'<text x="{t + 4:.1f}" y="{TOP + 12}" font-size="12" fill="#d4351c">T</text>',
        f'<polyline fill="none" stroke="#1d70b8" stroke-width="3" points="{" ".join(steps)}"/>',
        "</svg>",
    ]
    return Markup("".join(parts))
