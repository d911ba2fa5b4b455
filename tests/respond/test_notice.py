"""The notice to users: posted through the release's target when it is not live everywhere at
T + after_s, replaced once live, each on the timeline; a notice that cannot be published is an
incident (IT alerted) and is tried again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Notice, Release, Site
from onthedot.record import kinds
from onthedot.record.narrative import account
from onthedot.record.timeline import Timeline
from onthedot.respond.notice import fragment
from onthedot.respond.responder import Responder
from onthedot.settings import NoticeSettings, NotifySettings
from tests.respond.conftest import MovedClock, T, retail
from tests.respond.receivers import webhook

ZONE = ZoneInfo("Europe/London")
RID = "retail-sales-2026-02"


def _release(target: str, notice: Notice | None = None) -> Release:
    site = Site(public="http://127.0.0.1:9", target=target)
    return retail().model_copy(update={"site": site, "notice": notice})


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


@pytest.fixture
def release(www: Path) -> Release:
    return _release(f"file://{www}", Notice(after_s=10))


def _responder(
    store: AsyncEngine, clock: MovedClock, notify: NotifySettings | None = None
) -> Responder:
    return Responder(store, notify or NotifySettings(), clock, ZONE, pauses_s=(0, 0))


async def _look(responder: Responder, clock: MovedClock, seconds: float) -> None:
    clock.move(seconds)
    await responder.tick()
    await responder.sent()
    await responder.tick()  # reads what the notice's task recorded


async def test_a_release_not_live_at_t_plus_n_gets_a_notice_replaced_once_live(
    store: AsyncEngine, www: Path
) -> None:
    clock = MovedClock(T)
    responder = _responder(store, clock)
    page = www / "statistics" / "notices" / f"{RID}.html"
    await _look(responder, clock, 9)
    assert not page.exists()  # not yet T + 10 s
    await _look(responder, clock, 1)
    assert page.read_text() == fragment(
        "These statistics were due at 09:30. We are fixing a technical problem and will update "
        "this page by 10:00."
    )
    await _look(responder, clock, 30)  # still not live: posted once, not again
    timeline = Timeline(store)
    assert len(await timeline.events(RID, kinds.NOTICE_PUBLISHED)) == 1
    live_at = T + dt.timedelta(minutes=65)
    await timeline.append(RID, kinds.VERIFY_ALL_LIVE, {"urls": [], "at": ""}, at=live_at)
    clock.at = live_at
    await _look(responder, clock, 1)
    assert "Published at 10:35 after a technical delay." in page.read_text()
    (posted,) = await timeline.events(RID, kinds.NOTICE_PUBLISHED)
    (replaced,) = await timeline.events(RID, kinds.NOTICE_REPLACED)
    assert posted.data["url"] == f"http://127.0.0.1:9/statistics/notices/{RID}.html"
    told = " ".join(account(await timeline.events(RID), retail()))
    assert "At 09:30:10 a notice alerting users was published on http://127.0.0.1:9" in told
    assert "the notice to users was replaced: “Published at 10:35" in told
    assert replaced.at == live_at + dt.timedelta(seconds=1)
    await responder.aclose()


async def test_a_release_live_before_t_plus_n_gets_no_notice(store: AsyncEngine, www: Path) -> None:
    clock = MovedClock(T)
    responder = _responder(store, clock)
    live = {"urls": [], "at": ""}
    await Timeline(store).append(RID, kinds.VERIFY_ALL_LIVE, live, at=T + dt.timedelta(seconds=3))
    await _look(responder, clock, 60)
    assert not (www / "statistics").exists()
    assert await Timeline(store).events(RID, kinds.NOTICE_PUBLISHED) == []
    await responder.aclose()


@pytest.mark.parametrize("wording", [Notice(after_s=10, enabled=False)])
async def test_a_release_may_turn_its_notice_off(
    store: AsyncEngine, www: Path, wording: Notice
) -> None:
    await _with_release(store, _release(f"file://{www}", wording))
    clock = MovedClock(T)
    responder = _responder(store, clock)
    await _look(responder, clock, 60)
    assert not (www / "statistics").exists()
    await responder.aclose()


async def _with_release(store: AsyncEngine, release: Release) -> None:
    from onthedot.store.releases import ReleaseRepository

    await ReleaseRepository(store).sync(release, actor="test")


async def test_a_notice_the_target_refuses_is_an_incident_for_it_and_is_tried_again(
    store: AsyncEngine, tmp_path: Path
) -> None:
    web_root = tmp_path / "not-yet"  # the web root is missing: the target refuses
    await _with_release(store, _release(f"file://{web_root}", Notice(after_s=10)))
    with webhook() as (it_address, received):
        clock = MovedClock(T)
        responder = _responder(store, clock, NotifySettings.model_validate({"it": [it_address]}))
        await _look(responder, clock, 10)
        await _look(responder, clock, 0)
        (incident,) = [i for i in await responder.book.of_release(RID) if i.problem == "notice"]
        assert incident.state == "open"
        assert f"/statistics/notices/{RID}.html could not be published" in incident.diagnosis
        assert any("notice to users" in r["title"] + r["message"] for r in received)  # IT told
        (failed,) = await Timeline(store).events(RID, kinds.NOTICE_FAILED)
        await _look(responder, clock, 5)  # tried again after 10 s, not at once
        assert len(await Timeline(store).events(RID, kinds.NOTICE_FAILED)) == 1
        web_root.mkdir()
        await _look(responder, clock, 5)
        assert (web_root / "statistics" / "notices" / f"{RID}.html").exists()
        (incident,) = [i for i in await responder.book.of_release(RID) if i.problem == "notice"]
        assert incident.state == "resolved"
        await responder.aclose()
    assert failed.data["error"]


def test_the_wording_and_path_are_checked_where_they_are_written() -> None:
    with pytest.raises(ValueError, match=r"\{when\} is not a placeholder"):
        NoticeSettings(delayed="Due at {when}.")
    with pytest.raises(ValueError, match=r"must end in \.html"):
        Notice(path="/statistics/notices/{release}.txt")
    with pytest.raises(ValueError, match="must start with /"):
        NoticeSettings(path="notices/{release}.html")
    mine = NoticeSettings(after_s=60).of(
        _release("file:///srv/www", Notice(published="Live at {live}."))
    )
    assert (mine.after_s, mine.published) == (60, "Live at {live}.")
