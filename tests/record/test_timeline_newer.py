"""``Timeline.newer``: the events of many releases recorded after what a reader has seen, in two
queries (the responder reads every watched release so at each look)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
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


async def test_of_some_kinds_only_with_each_release_s_newest_seq(store: AsyncEngine) -> None:
    timeline = Timeline(store)
    await timeline.append("a", kinds.PUBLISH_STAGED, {"n": 0})
    await timeline.append("a", kinds.VERIFY_FIRST_LIVE, {"n": 1})
    await timeline.append("a", kinds.VERIFY_RESULT, {"n": 2})
    await timeline.append("b", kinds.VERIFY_FIRST_LIVE, {"n": 0})
    found = await timeline.moved({"a": 0, "b": 0, "c": 0}, of={kinds.VERIFY_RESULT})
    assert {rid: (head, [e.data["n"] for e in got]) for rid, (head, got) in found.items()} == {
        "a": (3, [2]),
        "b": (1, []),  # moved on, nothing of those kinds: its newest seq, so as not to ask again
    }
    assert await timeline.moved({"a": 3, "b": 1}, of={kinds.VERIFY_RESULT}) == {}


async def test_data_reads_back_as_it_was_stored_numbers_beyond_64_bits_too(
    store: AsyncEngine,
) -> None:
    """Events are read with orjson (the responder reads thousands at T), which would make an
    integer beyond 64 bits a float: such data is read as ``json`` reads it."""
    timeline = Timeline(store)
    data = {
        "big": 2**70,
        "just_beyond": 2**64,
        "negative": -(2**63),
        "small": 1.5e-5,
        "text": "x" * 30,
        "digits_in_text": "a" + "9" * 25 + "b",
        "hash": "0a9b4fd031e728b679823dd64afce01a83cb08159e93e3af63cf743d19731f4a",
    }
    await timeline.append("a", kinds.NOTE, data)
    ((event,),) = (await timeline.newer({"a": 0})).values()
    assert event.data == data and isinstance(event.data["big"], int)
    assert isinstance(event.data["just_beyond"], int)


async def test_a_release_read_for_the_first_time_brings_back_no_other_s_history(
    store: AsyncEngine,
) -> None:
    """The events are asked for after each release's own last seq read: from the lowest of them,
    a release never read before (seen 0) brought every other release's whole history back."""
    timeline = Timeline(store)
    await timeline.append_many("a", [(kinds.NOTE, {"n": n}) for n in range(300)])
    await timeline.append("b", kinds.NOTE, {"n": 0})
    asked: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "max(" not in statement.lower():
            asked.append((statement, parameters))

    event.listen(store.sync_engine, "before_cursor_execute", note)
    try:
        found = await timeline.newer({"a": 299, "b": 0})
    finally:
        event.remove(store.sync_engine, "before_cursor_execute", note)
    assert {rid: [e.data["n"] for e in got] for rid, got in found.items()} == {"a": [299], "b": [0]}
    ((statement, parameters),) = asked
    async with store.connect() as conn:
        rows = (await conn.exec_driver_sql(statement, parameters)).all()
    assert len(rows) == 2  # (not a's 300)
