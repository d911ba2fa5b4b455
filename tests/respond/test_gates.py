"""Gates: held from the release time until every address is live everywhere, then sent once,
each step on the timeline; a send that fails is retried, then an incident; a gate address with a
secret is kept out of release files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import load_release
from onthedot.errors import ReleaseFileError
from onthedot.model import Gate, Release
from onthedot.record import kinds
from onthedot.record.narrative import account
from onthedot.record.timeline import Timeline
from onthedot.respond.gates import ATTEMPTS
from onthedot.respond.responder import Responder
from onthedot.settings import ConfigFile, NotifySettings
from tests.respond.conftest import MovedClock, T, retail
from tests.respond.receivers import smtp_server, unreachable, webhook

ZONE = ZoneInfo("Europe/London")
RID = "retail-sales-2026-02"


async def _look(responder: Responder, clock: MovedClock, seconds: float) -> None:
    clock.move(seconds)
    await responder.tick()
    await responder.sent()
    await responder.tick()


async def _live(store: AsyncEngine, at: dt.datetime) -> None:
    await Timeline(store).append(RID, kinds.VERIFY_ALL_LIVE, {"urls": [], "at": ""}, at=at)


async def test_an_email_and_a_webhook_are_held_until_live_then_sent_once(
    store: AsyncEngine,
) -> None:
    with smtp_server() as (mail, box), webhook() as (hook, posts):
        gates = {
            RID: (
                Gate(name="briefing for officials", send=mail, message="Retail sales are out."),
                Gate(name="press office", send=hook),
            )
        }
        clock = MovedClock(T - dt.timedelta(seconds=5))
        responder = Responder(store, NotifySettings(), clock, ZONE, pauses_s=(0, 0), gates=gates)
        await _look(responder, clock, 1)
        timeline = Timeline(store)
        assert await timeline.events(RID, kinds.GATE_HELD) == []  # before T nothing is held
        await _look(responder, clock, 4)  # T, not live
        held = await timeline.events(RID, kinds.GATE_HELD)
        assert [e.data["gate"] for e in held] == ["briefing for officials", "press office"]
        await _look(responder, clock, 60)
        assert box.messages == [] and posts == []
        assert len(await timeline.events(RID, kinds.GATE_HELD)) == 2  # held once each
        await _live(store, clock.at)
        await _look(responder, clock, 1)
        await _look(responder, clock, 60)
        await responder.aclose()
    assert [body.strip() for _subject, body in box.texts()] == ["Retail sales are out."]
    assert len(posts) == 1 and "is published and available to everyone" in posts[0]["message"]
    released = await Timeline(store).events(RID, kinds.GATE_RELEASED)
    assert sorted(e.data["gate"] for e in released) == ["briefing for officials", "press office"]
    told = " ".join(account(await Timeline(store).events(RID), retail()))
    assert (
        "briefing for officials was held back automatically until the statistics were live" in told
    )
    assert "press office went ahead automatically, once the statistics were live" in told
    assert "onthedot" not in told


async def test_a_gate_that_cannot_be_sent_is_retried_then_an_incident_not_retried_at_once(
    store: AsyncEngine, tmp_path: Path
) -> None:
    address = unreachable()
    gates = {RID: (Gate(name="data API switch", send=address),)}
    clock = MovedClock(T + dt.timedelta(seconds=1))
    responder = Responder(store, NotifySettings(), clock, ZONE, pauses_s=(0, 0), gates=gates)
    await _live(store, T + dt.timedelta(seconds=1))
    await _look(responder, clock, 1)
    failed = await Timeline(store).events(RID, kinds.GATE_FAILED)
    assert [e.data["attempt"] for e in failed] == list(range(1, ATTEMPTS + 1))
    (incident,) = [i for i in await responder.book.of_release(RID) if i.problem == "gate"]
    assert incident.state == "open" and "data API switch" in incident.diagnosis
    await _look(responder, clock, 10)  # not again at once
    assert len(await Timeline(store).events(RID, kinds.GATE_FAILED)) == ATTEMPTS
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    assert b"s3cret-pass" not in raw  # the address is recorded masked
    await responder.aclose()


def test_a_release_file_gate_with_a_password_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "retail.toml"
    path.write_text(
        'id = "retail-sales-2026-02"\ntitle = "Retail sales"\nproducer = "ONS"\n'
        'release_at = 2026-03-12T09:30:00\n\n[[gate]]\nname = "press"\n'
        'send = "json://hook:s3cret@127.0.0.1:9/x"\n'
    )
    with pytest.raises(ReleaseFileError) as caught:
        load_release(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:8: gate[0].send: holds a password or token")
    assert "[[gates.retail-sales-2026-02]]" in problem
    path.write_text(path.read_text().replace("hook:s3cret@", ""))
    release = load_release(path)
    assert release.gate == (Gate(name="press", send="json://127.0.0.1:9/x"),)
    assert release.line_of("gate.0") == 6


def test_onthedot_toml_keeps_gates_with_secrets_per_release() -> None:
    config = ConfigFile.model_validate(
        {"gates": {RID: [{"name": "press", "send": "json://hook:s3cret@127.0.0.1:9/x"}]}}
    )
    assert config.gates[RID][0].name == "press"
    with pytest.raises(ValueError, match="declared twice"):
        Release.model_validate(
            {**retail().model_dump(), "gate": [{"name": "a", "send": "json://x"}] * 2}
        )


async def test_with_two_instances_only_the_leaders_responder_sends_a_held_step(
    store: AsyncEngine,
) -> None:
    """Two instances on one store, each with its responder running: the briefing held until
    live goes out once (each instance sent it, as each looked on its own), by the leader."""
    import asyncio

    with webhook() as (hook, posts):
        gates = {RID: (Gate(name="press office", send=hook),)}
        clock = MovedClock(T + dt.timedelta(seconds=1))
        leader, standby = (
            Responder(store, NotifySettings(), clock, ZONE, pauses_s=(0, 0), gates=gates)
            for _ in range(2)
        )
        standby.leads = lambda: False
        for responder in (leader, standby):
            responder.look_every_s = 0.05
        await _live(store, T)
        running = [asyncio.create_task(r.run_forever()) for r in (leader, standby)]
        try:
            for _ in range(200):
                await asyncio.sleep(0.05)
                if posts and len(await Timeline(store).events(RID, kinds.GATE_RELEASED)):
                    break
            await asyncio.sleep(1.0)  # (time for a second send, were there one)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for responder in (leader, standby):
                await responder.sent()
                await responder.aclose()
    assert len(posts) == 1
    assert len(await Timeline(store).events(RID, kinds.GATE_RELEASED)) == 1
