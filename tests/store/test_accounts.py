"""Accounts, sessions and the breach report's drafts on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.errors import InputError
from onthedot.record.report.drafts import Author, Drafts, statuses
from onthedot.store.accounts import Accounts
from onthedot.store.sessions import Sessions

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"


async def test_an_account_checks_its_password_and_its_sessions_end_with_it(
    engine: AsyncEngine,
) -> None:
    accounts, sessions = Accounts(engine), Sessions(engine)
    await accounts.add("jane", "statistician", PASSWORD, NOW)
    assert (await accounts.check("jane", PASSWORD)) is not None
    assert await accounts.check("jane", "wrong password") is None
    assert await accounts.check("nobody", PASSWORD) is None
    opened = await sessions.open(("jane", "statistician"), "password", "jane", NOW, 3600)
    found = await sessions.find(opened, NOW + dt.timedelta(minutes=59))
    assert found is not None and (found.name, found.expires_at) == (
        "jane",
        NOW + dt.timedelta(hours=1),
    )
    assert await sessions.find(opened, NOW + dt.timedelta(hours=1)) is None  # ended
    again = await sessions.open(("jane", "statistician"), "password", "jane", NOW, 3600)
    await accounts.disable("jane", NOW)
    assert await sessions.find(again, NOW) is None
    assert await accounts.check("jane", PASSWORD) is None
    await accounts.enable("jane")
    third = await sessions.open(("jane", "statistician"), "password", "jane", NOW, 3600)
    await accounts.set_password("jane", "another good passphrase", NOW)
    assert await sessions.find(third, NOW) is None
    assert await accounts.check("jane", "another good passphrase") is not None
    with pytest.raises(InputError, match="There is an account 'jane' already"):
        await accounts.add("jane", "viewer", PASSWORD, NOW)
    with pytest.raises(InputError, match="at least 12"):
        await accounts.set_password("jane", "short", NOW)


async def test_a_reports_draft_and_status_are_kept(engine: AsyncEngine) -> None:
    drafts = Drafts(engine)
    who = Author("hop", "head_of_profession")
    assert await drafts.write("r-1", "impact_outside", "Two newspapers asked.", who)
    await drafts.move("r-1", "approved", who)
    await drafts.move("r-1", "sent", who, dt.date(2026, 12, 7))
    draft = await drafts.read("r-1")
    assert draft.written == {"impact_outside": "Two newspapers asked."}
    assert (draft.status, draft.sent_on) == ("sent", dt.date(2026, 12, 7))
    assert draft.changes[0].at.tzinfo is not None
    assert await statuses(engine) == {"r-1": ("sent", dt.date(2026, 12, 7))}
