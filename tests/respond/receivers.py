"""Real receivers on loopback for alert tests: an SMTP server (aiosmtpd) and a webhook (HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from onthedot.sandbox.mail import Mailbox, SmtpSink
from tests.servers.ports import free_port, release_port

__all__ = ["Mailbox", "smtp_server", "unreachable", "webhook"]


@contextmanager
def smtp_server(hold_s: float = 0.0) -> Iterator[tuple[str, Mailbox]]:
    """An SMTP server on 127.0.0.1; yields (the Apprise address of a mailbox on it, the box)."""
    with SmtpSink(hold_s=hold_s) as sink:
        yield sink.mailto("stats@example.org"), sink.box


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
