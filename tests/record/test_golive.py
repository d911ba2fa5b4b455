"""The go-live curve: the share of URL × vantage points live over time, its sentence and SVG."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.record.golive import curve, sentence, svg

T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
LONDON = ZoneInfo("Europe/London")
RELEASE = Release(
    id="r",
    title="R",
    producer="P",
    release_at=T,
    site=Site(public="https://stats.example"),
    artefact=(Artefact(path="/a.xlsx", sha256="a" * 64), Artefact(path="/b.htm", expect_text="x")),
)
A, B = "https://stats.example/a.xlsx", "https://stats.example/b.htm"


def seen(url: str, status: Status, seconds: float, vantage: str = "london") -> CheckResult:
    return CheckResult(
        url=url,
        status=status,
        served_sha256=None,
        expected_sha256=None,
        diagnosis="",
        vantage=vantage,
        checked_at=T + dt.timedelta(seconds=seconds),
    )


def test_the_curve_steps_up_as_places_go_live_and_down_when_one_goes_stale_again() -> None:
    results = [
        seen(A, Status.EMBARGOED, -600),
        seen(A, Status.LIVE, 0.2),
        seen(B, Status.STALE, 0.2),
        seen(A, Status.LIVE, 0.2, "leeds"),
        seen(B, Status.LIVE, 30, "leeds"),
        seen(A, Status.STALE, 40),  # a cache served the old file again
        seen(A, Status.LIVE, 65),
        seen(B, Status.LIVE, 95),
    ]
    c = curve(RELEASE, list(reversed(results)))
    assert c.places == 4
    shares = [(round((p.at - T).total_seconds(), 1), p.share) for p in c.points]
    assert shares == [
        (-900.0, 0.0),
        (0.2, 0.5),
        (30.0, 0.75),
        (40.0, 0.5),
        (65.0, 0.75),
        (95.0, 1.0),
    ]
    assert c.live_at == T + dt.timedelta(seconds=95)
    assert c.end == T + dt.timedelta(minutes=30)
    assert sentence(c, LONDON) == (
        "Every address was live from every vantage point at 09:31:35, 1 minute 35 seconds after "
        "the release time."
    )


def test_a_release_never_all_live_runs_to_its_last_result_and_says_how_far_it_got() -> None:
    late = T + dt.timedelta(hours=2)
    c = curve(RELEASE, [seen(A, Status.LIVE, 1), seen(B, Status.STALE, 7200)])
    assert c.live_at is None and c.end == late and c.latest == 0.5
    assert sentence(c, LONDON).startswith("1 of 2 address and vantage point pairs served")


def test_the_svg_is_well_formed_accessible_and_marks_t() -> None:
    c = curve(RELEASE, [seen(A, Status.LIVE, 1), seen(B, Status.LIVE, 2)])
    drawn = ET.fromstring(str(svg(c, LONDON, ident="x")))
    ns = "{http://www.w3.org/2000/svg}"
    assert drawn.get("role") == "img" and drawn.get("aria-labelledby") == "x-title x-desc"
    assert drawn.find(f"{ns}desc").text == sentence(c, LONDON)  # type: ignore[union-attr]
    labels = [t.text for t in drawn.iter(f"{ns}text")]
    assert labels == ["0%", "50%", "100%", "09:15", "09:30", "09:45", "10:00", "T"]
    line = drawn.find(f"{ns}polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert points[0][1] > points[-1][1]  # from 0 % (low on the page) up to 100 %


def test_results_of_other_addresses_are_left_out() -> None:
    c = curve(RELEASE, [seen("https://stats.example/other.csv", Status.LIVE, 1)])
    assert c.places == 2 and c.latest == 0.0 and [p.share for p in c.points] == [0.0]
