"""An Apprise plugin that raises instead of answering False is a failed send like any other: the
alert is retried and recorded failed, never left ``sending``, and its secret-bearing text is not
kept."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apprise.plugins.custom_json import NotifyJSON
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Status
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.respond.channels import AlertError, channel
from onthedot.respond.deliveries import open_failures
from onthedot.respond.responder import ATTEMPTS, Responder
from onthedot.settings import NotifySettings
from tests.respond.conftest import MovedClock, T, seen

ADDRESS = "json://hook:s3cret-pass@127.0.0.1:9/alerts"


@pytest.fixture
def broken_plugin(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def send(self: NotifyJSON, *args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        raise RuntimeError(f"plugin bug while posting to {ADDRESS}")

    monkeypatch.setattr(NotifyJSON, "send", send)
    return calls


async def test_a_raising_plugin_is_a_failed_send_naming_the_service_without_secrets(
    broken_plugin: list[int],
) -> None:
    chan = channel("statistician", 0, ADDRESS)
    with pytest.raises(AlertError, match=r"the JSON service could not be used") as caught:
        await chan.send("Title", "Body")
    assert broken_plugin
    assert "s3cret-pass" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_an_alert_whose_plugin_raises_is_retried_and_recorded_failed(
    store: AsyncEngine, broken_plugin: list[int]
) -> None:
    settings = NotifySettings.model_validate({"statistician": [ADDRESS]})
    clock = MovedClock(T + dt.timedelta(seconds=1))
    responder = Responder(store, settings, clock, ZoneInfo("Europe/London"), pauses_s=(0, 0))
    await seen(store, Status.STALE, T + dt.timedelta(seconds=0.5))
    await responder.tick()
    await responder.sent()
    assert len(broken_plugin) == ATTEMPTS
    failed = await Timeline(store).events("retail-sales-2026-02", kinds.ALERT_FAILED)
    assert [e.data["attempt"] for e in failed] == list(range(1, ATTEMPTS + 1))
    assert failed[-1].data["final"] is True
    assert all("the JSON service could not be used" in e.data["error"] for e in failed)
    assert not any("s3cret-pass" in str(e.data) for e in failed)
    (failure,) = await open_failures(store)  # recorded failed, not left 'sending'
    assert failure.role == "statistician" and "s3cret-pass" not in failure.message
