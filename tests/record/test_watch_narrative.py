"""How the end of the watch, a person's stop and the kinds of events read to a person."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.narrative import account, label
from onthedot.record.timeline import Timeline
from tests.record.incident import URL, at, release_2019


async def test_the_watch_ending_and_a_persons_stop_read_as_sentences(store: AsyncEngine) -> None:
    release = release_2019()
    tl = Timeline(store)
    await tl.append(
        release.id,
        kinds.WATCH_STOPPED,
        {"by": "Jane Smith", "reason": "IT purges the cache by hand"},
        actor="Jane Smith",
        source="cli",
        at=at(10, 0),
    )
    await tl.append(
        release.id,
        kinds.WATCH_ENDED,
        {
            "reason": "stopped",
            "after_s": 1800,
            "not_live": [URL],
            "by": "Jane Smith",
            "why": "IT purges the cache by hand",
        },
        at=at(10, 0, 30),
    )
    await tl.append(
        release.id,
        kinds.WATCH_ENDED,
        {"reason": "limit", "after_s": 86400, "not_live": [URL]},
        at=at(11, 0),
    )
    await tl.append(
        release.id,
        kinds.WATCH_ENDED,
        {"reason": "all-live", "after_s": 3900, "not_live": []},
        at=at(11, 5),
    )
    assert account(await tl.events(release.id), release) == [
        "At 10:00:00 Jane Smith asked for the automatic checks to stop: IT purges the cache by hand.",
        "At 10:00:30 the automatic checks stopped, as Jane Smith asked (IT purges the cache by "
        f"hand); still not live: {URL}.",
        "At 11:00:00 the automatic checks stopped 24 hours after the files were published (their "
        f"limit); still not live: {URL}.",
    ]  # (all live is told by verify.all-live)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (kinds.PUBLISH_STAGED, "Staged"),
        (kinds.PUBLISH_FLIPPED, "Went live"),
        (kinds.GATE_HELD, "Gate held"),
        (kinds.WATCH_ENDED, "Stopped checking"),
        (kinds.UAT_CHECKED, "Test (UAT) environment checked"),
        (kinds.ROOT_CAUSE, "Root cause"),
        ("incident.opened", "Incident opened"),
        ("alert.escalated-to_hop", "Alert escalated to hop"),
    ],
)
def test_every_kind_has_plain_words(kind: str, words: str) -> None:
    assert label(kind) == words


def test_every_kind_onthedot_records_has_its_own_words() -> None:
    names = [v for k, v in vars(kinds).items() if k.isupper() and isinstance(v, str)]
    assert names and all(label(name) != name for name in names)
