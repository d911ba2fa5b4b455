"""Failed sign-ins, counted per account name and per address, so a password cannot be guessed.

After ``per_account`` failures for one name, or ``per_address`` from one address, within
``window_s``, sign-in for that name (or from that address) is refused, without looking at the
password, until the oldest of those failures is ``window_s`` old. A good sign-in clears its
name's count. Kept in the web process's memory (at most ``most`` names and addresses, the
quietest forgotten first): a restart forgets them.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

PER_ACCOUNT = 5
PER_ADDRESS = 20
WINDOW_S = 15 * 60
MOST = 10_000


class SignInLimiter:
    def __init__(
        self,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window_s: float = WINDOW_S,
        most: int = MOST,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = dt.timedelta(seconds=window_s)
        self._most = most
        self._failures: dict[tuple[str, str], deque[dt.datetime]] = {}

    def blocked_until(self, name: str, address: str, now: dt.datetime) -> dt.datetime | None:
        """When ``name`` may try again from ``address``, or None if it may now."""
        until = [self._until(key, now) for key in _keys(name, address)]
        found = [u for u in until if u is not None]
        return max(found) if found else None

    def failed(self, name: str, address: str, now: dt.datetime) -> None:
        for key in _keys(name, address):
            self._failures.setdefault(key, deque()).append(now)
            self._failures[key] = self._failures.pop(key)  # newest last
        while len(self._failures) > self._most:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, name: str) -> None:
        self._failures.pop(("account", name.casefold()), None)

    def _until(self, key: tuple[str, str], now: dt.datetime) -> dt.datetime | None:
        times = self._failures.get(key)
        if not times:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        limit = self._limits[key[0]]
        if len(times) < limit:
            return None
        return times[-limit] + self._window


def _keys(name: str, address: str) -> tuple[tuple[str, str], ...]:
    return (("account", name.casefold()), ("address", address))
