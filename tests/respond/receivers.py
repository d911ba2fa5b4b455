"""Real receivers on loopback for alert tests: an SMTP server (aiosmtpd) and a webhook (HTTP)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers.ports import free_port, release_port


@dataclass
class Mailbox:
    """Every message the SMTP server took, with the instant it arrived (time.time()); with
    ``hold_s``, the server answers each message only that long after it arrived (a slow server:
    the sender is still sending)."""

    messages: list[tuple[float, EmailMessage]] = field(default_factory=list)
    hold_s: float = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((time.time(), parsed))
        await asyncio.sleep(self.hold_s)
        return "250 OK"

    def texts(self) -> list[tuple[str, str]]:
        """(subject, plain-text body) of each message."""
        found = []
        for _at, message in self.messages:
            part = message.get_body(preferencelist=("plain",))
            body = part.get_content() if part is not None else ""
            found.append((str(message["subject"]), str(body)))
        return found


@contextmanager
def smtp_server(hold_s: float = 0.0) -> Iterator[tuple[str, Mailbox]]:
    """An SMTP server on 127.0.0.1; yields (the Apprise address of a mailbox on it, the box)."""
    box = Mailbox(hold_s=hold_s)
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = (
            f"mailto://127.0.0.1:{port}?from=onthedot@example.org&to=stats@example.org"
            "&mode=insecure"
        )
        yield url, box
    finally:
        controller.stop()
        release_port(port)


@contextmanager
def webhook(refuse: int = 0) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP receiver of JSON posts on 127.0.0.1: (its json:// address, the bodies it took);
    it answers the first ``refuse`` posts with a server error (and does not keep them)."""
    received: list[dict[str, Any]] = []
    refused: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length))
            if len(refused) < refuse:
                refused.append(1)
                self.send_response(503)
                self.end_headers()
                return
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://hook:s3cret-pass@127.0.0.1:{port}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        release_port(port)


def unreachable() -> str:
    """A json:// address where nothing listens (a port taken, then let go)."""
    port = free_port()
    release_port(port)
    return f"json://hook:s3cret-pass@127.0.0.1:{port}/alerts?cto=1&rto=1"
