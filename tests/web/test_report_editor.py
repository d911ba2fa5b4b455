"""The breach report's editor over the app in process: what people write is saved and in the
downloads, only the right role moves the status, and the register shows it."""

from __future__ import annotations

import html
import io

import docx
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import breaches as breach_store
from onthedot.record import kinds, register
from onthedot.record.report import assess
from onthedot.record.report.drafts import statuses
from onthedot.record.timeline import Timeline
from onthedot.store.accounts import Accounts
from tests.web.conftest import FATAL, NOW
from tests.web.forms import post, sign_in

PASSWORD = "correct horse battery staple"
EDITOR = f"/releases/{FATAL.id}/report"
INSIDE = "The press office took 14 calls <b>before noon</b>; the team lost the morning."


@pytest.fixture
async def people(store: AsyncEngine) -> None:
    accounts = Accounts(store)
    for name, role in (
        ("jane", "statistician"),
        ("hop", "head-of-profession"),
        ("pub", "publisher"),
        ("val", "viewer"),
    ):
        await accounts.add(name, role, PASSWORD, NOW)


async def as_(client: httpx.AsyncClient, name: str) -> None:
    assert (await sign_in(client, name=name, password=PASSWORD)).status_code == 303


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


async def test_a_statistician_writes_the_head_of_profession_approves_it_is_in_every_download(
    client: httpx.AsyncClient, store: AsyncEngine, people: None
) -> None:
    await as_(client, "jane")
    page = await client.get(EDITOR)
    assert page.status_code == 200 and 'name="impact_inside"' in page.text
    assert "Approve the report" not in page.text  # not hers to press
    saved = await post(client, EDITOR, {"impact_inside": INSIDE}, page=EDITOR)
    assert saved.status_code == 303
    page = await client.get(saved.headers["location"])
    assert "Saved." in page.text and html.escape(INSIDE, quote=False) in page.text
    assert "<b>before noon</b>" not in page.text  # markup shown as text
    refused = await post(client, f"{EDITOR}/status", {"status": "approved"}, page=EDITOR)
    assert refused.status_code == 403 and "Only the Head of Profession approves" in refused.text

    await as_(client, "hop")
    approved = await post(client, f"{EDITOR}/status", {"status": "approved"}, page=EDITOR)
    assert approved.status_code == 303
    page = await client.get(EDITOR)
    assert "approved by hop" in page.text and 'name="impact_inside"' not in page.text
    download = await client.get(f"{EDITOR}.docx")
    assert download.headers["content-disposition"].endswith(f'{FATAL.id}.docx"')
    text = docx_text(download.content)
    assert INSIDE in text and "Approved; approved by hop on Wednesday 18 December 2019." in text
    for fmt in ("odt", "html", "md"):
        answer = await client.get(f"{EDITOR}.{fmt}")
        assert answer.status_code == 200 and len(answer.content) > 1000
    assert "14 calls" in (await client.get(f"{EDITOR}.html")).text
    told = await Timeline(store).events(FATAL.id, kinds.REPORT_STATUS)
    assert [(e.actor, e.data["status"], e.source) for e in told] == [
        ("hop", "approved", "dashboard")
    ]


async def test_only_the_right_role_moves_the_status_and_the_register_shows_it(
    client: httpx.AsyncClient, store: AsyncEngine, people: None
) -> None:
    await as_(client, "hop")
    await post(client, f"{EDITOR}/status", {"status": "approved"}, page=EDITOR)
    bad_date = await post(
        client, f"{EDITOR}/status", {"status": "sent", "sent_on": "18/12/2019"}, page=EDITOR
    )
    assert bad_date.status_code == 422
    assert "'18/12/2019' is not a date: write it as YYYY-MM-DD" in html.unescape(bad_date.text)
    ahead = {"status": "sent", "sent_on": "2019-12-19"}  # the app's clock: 18 December 2019
    later = await post(client, f"{EDITOR}/status", ahead, page=EDITOR)
    assert later.status_code == 422 and "2019-12-19 is after today" in later.text
    await post(client, f"{EDITOR}/status", {"status": "draft"}, page=EDITOR)  # back, to write
    both = {"impact_outside": "Kept only with the other.", "statement_link": "ftp://x"}
    assert (await post(client, EDITOR, both, page=EDITOR)).status_code == 422
    assert "Kept only with the other." not in (await client.get(f"{EDITOR}.md")).text
    await post(client, f"{EDITOR}/status", {"status": "approved"}, page=EDITOR)
    sent = {"status": "sent", "sent_on": "2019-12-18"}
    assert (await post(client, f"{EDITOR}/status", sent, page=EDITOR)).status_code == 303
    for name, code in (("val", 403), ("jane", 403), ("pub", 303)):
        await as_(client, name)
        moved = await post(client, f"{EDITOR}/status", {"status": "published"})
        assert moved.status_code == code, (name, moved.text)
    await assess(store, FATAL)
    row = register.to_json(await breach_store.load(store), await statuses(store))["breaches"][0]
    assert (row["report"], row["report_sent_on"]) == ("published", "2019-12-18")


async def test_the_report_is_the_producers_own_document(
    client: httpx.AsyncClient, store: AsyncEngine, people: None
) -> None:
    for url in (EDITOR, f"{EDITOR}.docx"):
        answer = await client.get(url)
        assert answer.status_code == 403 and "the producer's own document" in html.unescape(
            answer.text
        )
    await as_(client, "val")  # a viewer reads it, but writes nothing
    page = await client.get(EDITOR)
    assert page.status_code == 200 and 'name="impact_inside"' not in page.text
    refused = await post(client, EDITOR, {"impact_inside": "x"})  # a form made by hand
    assert refused.status_code == 403 and "Only a statistician or the Head of Profession" in (
        refused.text
    )
    await as_(client, "jane")
    wrong = await post(client, EDITOR, {"statement_link": "javascript:alert(1)"}, page=EDITOR)
    assert wrong.status_code == 422
    assert "is not a web address: give one starting https://" in html.unescape(wrong.text)
    assert (await client.get(f"{EDITOR}.pdf")).status_code == 422
    assert (await client.get("/releases/no-such-release/report")).status_code == 404
