"""``Timeline.newer``: the events of many releases recorded after what a reader has seen, in two
queries (the responder reads every watched release so at each look)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.timeline import Timeline


async def test_each_release_s_events_after_the_last_one_read_in_order(store: AsyncEngine) -> None:
    timeline = Timeline(store)
    for n in range(3):
        await timeline.append("a", kinds.PUBLISH_STAGED, {"n": n})
    await timeline.append("b", kinds.PUBLISH_STAGED, {"n": 0})
    found = await timeline.newer({"a": 1, "b": 1, "c": 0})
    assert {rid: [(e.seq, e.data["n"]) for e in got] for rid, got in found.items()} == {
        "a": [(2, 1), (3, 2)]
    }  # b has nothing after 1, c has no events at all
    assert await timeline.newer({"a": 3, "b": 1}) == {}
    everything = await timeline.newer({"a": 0, "b": 0})
    assert [e.seq for e in everything["a"]] == [1, 2, 3] and len(everything["b"]) == 1
