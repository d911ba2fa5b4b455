"""One run of the demo: its folder, its mail sink and two websites, up until it ends.

``demo_session(folder)`` checks what the machine lacks first (``SandboxError`` naming the Debian
packages, or asking for root), starts the SMTP sink and one website per act, and stops them all
when the ``with`` ends, whatever happened; ``Session.run`` plays both acts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from onthedot.demo import website
from onthedot.demo.folder import Demo
from onthedot.demo.prevented import act_two
from onthedot.demo.replayed import act_one
from onthedot.demo.stage import ActResult, Stage
from onthedot.demo.website import Website, start_website
from onthedot.errors import OnthedotError, SandboxError
from onthedot.sandbox.base import ServerStartError
from onthedot.sandbox.mail import SmtpSink


@dataclass
class Session:
    demo: Demo
    sites: tuple[Website, Website]

    async def run(self, stage: Stage) -> list[ActResult]:
        """Both acts, one after the other, each on its own website."""
        self.demo.write_config()
        return [
            await act_one(self.demo, self.sites[0], stage),
            await act_two(self.demo, self.sites[1], stage),
        ]


def check_machine() -> None:
    """SandboxError when the demo's servers cannot start here, saying what to do."""
    needed = website.missing()
    if needed:
        raise SandboxError(
            "The demo needs programs this machine does not have: install them with "
            f"'apt-get install {' '.join(needed)}' (as root), then run it again."
        )
    if not website.has_mail_sink():
        raise SandboxError(
            "The demo's mail server needs the Python package aiosmtpd: run scripts/install (or "
            "pip install 'onthedot[test]'), then run it again."
        )
    if not website.is_root():
        raise SandboxError(
            "The demo's FTP server checks its password through the system, which only root may "
            "set up: run the demo as root (for example with sudo)."
        )


@contextmanager
def demo_session(folder: Path) -> Iterator[Session]:
    check_machine()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[website.PASSWORD_VARIABLE] = (
        website.FTP_PASSWORD
    )  # for this process and its children
    with ExitStack() as stack:
        sink = stack.enter_context(SmtpSink())
        try:
            sites = []
            for act, ports in (("act1", None), ("act2", website.TOUR_PORTS)):
                site = start_website(folder / f"website-{act}", ports)
                stack.callback(site.stop)
                sites.append(site)
        except ServerStartError as exc:
            raise OnthedotError(
                f"A server of the demo did not start, so the demo cannot run: {exc}"
            ) from None
        yield Session(Demo(folder, sink.box, sink.mailto), (sites[0], sites[1]))
