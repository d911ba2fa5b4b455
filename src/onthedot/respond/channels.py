"""Alert addresses through Apprise (e-mail, Teams, Slack, SMS, webhooks): checked, masked, sent.

Apprise is loaded only here, and only when an address is checked or a message sent (it loads
every service it knows, about a second). An address is printed, logged and stored only masked
(``Channel.masked``: passwords and tokens replaced). Sending runs in Apprise's worker threads, each
attempt bounded by ``SEND_TIMEOUT_S``; a failed attempt raises ``AlertError``, also when a service's
plugin raises an error of its own (its text, which may quote the address's secrets, is not kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onthedot.adapters import AdapterURL
from onthedot.errors import AdapterError, AdapterURLError

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

SEND_TIMEOUT_S = 20.0
SPACING_S = 0.1
"""The least time between two messages to one address (Apprise's own default, 5.5 s, held the
alerts of a morning with many incidents back by minutes)."""


class AlertError(AdapterError):
    """A message could not be delivered to one address."""


@dataclass(frozen=True)
class Channel:
    role: str
    index: int  # its place in the role's list
    masked: str
    plugin: NotifyBase

    async def send(self, title: str, body: str, timeout_s: float = SEND_TIMEOUT_S) -> None:
        try:
            ok = await asyncio.wait_for(self.plugin.async_notify(title=title, body=body), timeout_s)
        except TimeoutError:
            raise AlertError(f"{self.masked} did not answer within {timeout_s:g} s.") from None
        except Exception:  # a plugin's own failure: a failed attempt like any other
            raise AlertError(
                f"Sending to {self.masked} failed: the {self._kind()} service could not be "
                "used with this address; check the address and its options."
            ) from None
        if not ok:
            raise AlertError(f"{self.masked} refused the message or could not be reached.")

    def _kind(self) -> str:
        return str(getattr(self.plugin, "service_name", None) or type(self.plugin).__name__)


def masked(url: str) -> str:
    """``url`` with its secrets masked, without loading Apprise."""
    try:
        return AdapterURL.parse(url).masked(("password", "webhook", "apikey", "token"))
    except AdapterURLError:
        return "an address that is not a URL"


def channel(role: str, index: int, url: str) -> Channel:
    """The channel of one address; AdapterURLError (masked) when Apprise cannot use it."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise AdapterURLError(
            f"The {_role_words(role)} alert address {masked(url)} cannot be used: check its "
            "service name, user, host and options."
        )
    plugin.request_rate_per_sec = SPACING_S  # (despite its name: seconds between two sends)
    shown = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return Channel(role, index, str(shown), plugin)


def channels(recipients: Mapping[str, Sequence[str]]) -> dict[str, list[Channel]]:
    """Every role's channels; the first address Apprise cannot use raises AdapterURLError."""
    return {
        role: [channel(role, i, url) for i, url in enumerate(urls)]
        for role, urls in recipients.items()
    }


def problems(recipients: Mapping[str, Sequence[str]]) -> list[tuple[str, int, str]]:
    """(role, place in its list, one sentence) for each address Apprise cannot use."""
    found = []
    for role, urls in recipients.items():
        for index, url in enumerate(urls):
            try:
                channel(role, index, url)
            except AdapterURLError as exc:
                found.append((role, index, str(exc)))
    return found


ROLE_WORDS = {"head_of_profession": "Head of Profession", "it": "IT", "send": "held step's"}


def _role_words(role: str) -> str:
    return ROLE_WORDS.get(role, role)
