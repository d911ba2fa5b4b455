"""The demo's folder: its onthedot.toml (alerts to the mail sink, the notice, the cache's TTL),
the release files of both acts, the store and the timeline's signing key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config, load_config
from onthedot.demo import seed
from onthedot.record.checkpoint import anchor_for, bind
from onthedot.sandbox.mail import Mailbox
from onthedot.store.db import open_store


@dataclass
class Demo:
    """The demo's folder (its onthedot.toml, release files, store and reports), its mail sink."""

    folder: Path
    box: Mailbox
    mailto: Callable[[str], str]

    @property
    def config_path(self) -> Path:
        return self.folder / "onthedot.toml"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'onthedot.db'}"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write_config(self) -> None:
        lists = {
            "statistician": "jane.smith@example.org",
            "publishing": "web-publishing@hse.example.org",
            "it": "it-service-desk@hse.example.org",
            "head_of_profession": "hop@hse.example.org",
        }
        notify = "\n".join(f'{role} = ["{self.mailto(to)}"]' for role, to in lists.items())
        self.config_path.write_text(
            "# Written by onthedot demo: the two acts' releases, on this machine's own servers.\n"
            'releases = ["releases/*/*.toml"]\n'
            'database = "sqlite:///onthedot.db"\n\n'
            '[evidence]\nkey = "timeline.key"\n\n'
            "[verify.caches]\nvarnish = {default_ttl = 3600}\n\n"
            f"[notify]\n{notify}\nescalate = {{head_of_profession = 300}}\n\n"
            "[notice]\nafter_s = 120\n",
            encoding="utf-8",
        )

    def briefing(self) -> str:
        return (
            f'\n[[gate]]\nname = "{seed.BRIEFING}"\n'
            f'send = "{self.mailto("officials-briefing@hse.example.org")}"\n'
            'message = "The quarterly statistics on fatal injuries at work are now published."\n'
        )

    async def store(self) -> AsyncEngine:
        engine = await open_store(self.database_url)
        config = self.config()
        bind(engine, anchor_for(config.evidence, config.root, self.database_url))
        return engine
