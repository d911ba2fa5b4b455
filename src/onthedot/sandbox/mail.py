"""A local SMTP sink (aiosmtpd) on 127.0.0.1 that keeps every message it is sent.

``SmtpSink().start()`` listens on a free port in a thread of this process; ``mailto(to)`` is the
Apprise address that sends to it, ``box`` holds what arrived (with the instant it arrived), and
``stop()`` frees the port. The demo shows the alerts and the briefing it receives; tests read them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from onthedot.sandbox.base import HOST
from onthedot.sandbox.ports import free_port, release_port


@dataclass
class Mailbox:
    """Every message the SMTP sink took, with the instant it arrived (time.time()); with
    ``hold_s``, the sink answers each message only that long after it arrived (a slow server:
    the sender is still sending)."""

    messages: list[tuple[float, EmailMessage]] = field(default_factory=list)
    hold_s: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((time.time(), parsed))
        await asyncio.sleep(self.hold_s)
        return "250 OK"

    def texts(self) -> list[tuple[str, str]]:
        """(subject, plain-text body) of each message."""
        return [_text(message) for _at, message in self.messages]

    def recipients(self) -> list[str]:
        return [str(message["to"]) for _at, message in self.messages]


def _text(message: EmailMessage) -> tuple[str, str]:
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    return str(message["subject"]), str(body)


class SmtpSink:
    """aiosmtpd on 127.0.0.1:port in a thread, delivering into ``box``."""

    apt_package = "python3-aiosmtpd"

    def __init__(self, hold_s: float = 0.0) -> None:
        self.box = Mailbox(hold_s=hold_s)
        self.host = HOST
        self.port = 0
        self._controller: Any = None

    def start(self) -> Self:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self._controller = Controller(self.box, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def mailto(self, to: str, sender: str = "onthedot@example.org") -> str:
        """The Apprise address of a mailbox ``to`` on this sink (plain SMTP, no password)."""
        return f"mailto://{self.host}:{self.port}?from={sender}&to={to}&mode=insecure"

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self.port:
            release_port(self.port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
