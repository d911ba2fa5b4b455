"""Tables. Instants are stored as timezone-aware UTC (``UTCDateTime()``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC in, aware UTC out, on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: use an aware UTC instant")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def aggregated_instant(value: dt.datetime | str) -> dt.datetime:
    """An aggregate (``min()``, ``max()``) of a ``UTCDateTime`` column as an aware UTC instant:
    the aggregate loses the column's type on SQLite, so a naive UTC text or datetime comes back."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")

releases = Table(
    "releases",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("producer", Text, nullable=False),
    Column("release_at", UTCDateTime(), nullable=False, index=True),
    Column("announced_at", UTCDateTime()),
    Column("nation", String(32), nullable=False),
    Column("source", Text),
    Column("content_sha256", String(64), nullable=False),
    Column("document", JSON, nullable=False),  # the whole validated Release as JSON
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

release_history = Table(
    "release_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), ForeignKey("releases.id"), nullable=False, index=True),
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("field", String(64), nullable=False),
    Column("old", JSON),
    Column("new", JSON),
)

# The timeline: append-only, hash-chained per release (record/timeline.py).
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),  # when it happened
    Column("recorded_at", UTCDateTime()),  # when it was appended (none before migration 0004)
    Column("kind", String(64), nullable=False),
    Column("actor", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, exactly the bytes that were hashed
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("release_id", "seq", name="uq_events_release_seq"),
)

# Idempotent publish steps: one row per completed step (staged, flipped, purged, verified).
publish_steps = Table(
    "publish_steps",
    metadata,
    Column("release_id", String(128), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("done_at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
)

# One publisher per release at a time.
leases = Table(
    "leases",
    metadata,
    Column("release_id", String(128), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

checks = Table(
    "checks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("vantage", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("served_sha256", String(64)),
    Column("result", JSON, nullable=False),
    Column("checked_by", Text),  # the instance that looked (None: this one, or before 0008)
    Index("ix_checks_release_url", "release_id", "url", "vantage"),
    Index("ix_checks_release_vantage", "release_id", "vantage", "id"),  # an agent's latest
)

# A sweep after T split into chunks that any instance claims (store/sweeps.py, morning/spread.py)
sweep_chunks = Table(
    "sweep_chunks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sweep", String(64), nullable=False, index=True),
    Column("release_id", String(128), nullable=False),
    Column("urls", JSON, nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("claimed_by", Text),
    Column("claimed_until", UTCDateTime()),
    Column("claims", Integer, nullable=False, default=0, server_default="0"),
    Column("done_by", Text),
    Column("done_at", UTCDateTime()),
    Column("results", JSON),
    Index("ix_sweep_chunks_open", "done_at", "id"),
)

# SHA-256 of local artefact files, by real path, size and mtime (store/digests.py)
artefact_digests = Table(
    "artefact_digests",
    metadata,
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
)

breaches = Table(
    "breaches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("practices", JSON, nullable=False),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("urls", JSON, nullable=False),
    Column("cause", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False, default="open"),
    Column("actions", JSON, nullable=False),
    UniqueConstraint("release_id", "kind", name="uq_breaches_release_kind"),
)

# Who may read the API and the dashboard: people and automation, each token stored as its SHA-256
# only (store/tokens.py); remote probe agents have their own tokens in onthedot.toml.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

# Pre-release access (store/prerelease.py): who was given a signed link to a release's staged
# files, and every time a link was used (served or refused).
prerelease_grants = Table(
    "prerelease_grants",
    metadata,
    Column("id", String(32), primary_key=True),  # in the link, signed with it
    Column("release_id", String(128), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("email", Text),
    Column("role", Text, nullable=False),
    Column("justification", Text, nullable=False),
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

prerelease_openings = Table(
    "prerelease_openings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("grant_id", String(32), nullable=False, index=True),
    Column("release_id", String(128), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("path", Text),  # the file opened; None: the list of files
    Column("sha256", String(64)),
    Column("served", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),  # why it was refused
)

# Incidents: one per release and problem (respond/incidents.py); every change is on the timeline.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),  # release/problem
    Column("release_id", String(128), nullable=False, index=True),
    Column("problem", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # open | acknowledged | resolved | closed
    Column("round", Integer, nullable=False, default=1),  # +1 each time it opens again
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False, index=True),
    Column("since", UTCDateTime(), nullable=False),
    Column("cause", String(16), nullable=False, default=""),
    Column("places", JSON, nullable=False),
    Column("diagnosis", Text, nullable=False, default=""),
    Column("by", Text, nullable=False, default=""),  # who acknowledged or closed it
    Column("reason", Text, nullable=False, default=""),
)

# One row per message of an incident's state to one address of a role (its address masked: a
# secret in it is never stored); ``status`` queued | sent | failed.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False, index=True),
    Column("round", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("role", String(32), nullable=False),
    Column("channel", Integer, nullable=False),  # the address's place in the role's list
    Column("address", Text, nullable=False),  # masked
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=False, default=""),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("incident_id", "round", "state", "role", "channel", name="uq_alerts_message"),
)

# People who sign in with a name and password (store/accounts.py): the password kept as its
# argon2 hash only; ``disabled_at`` set: the account no longer signs in and its sessions end.
accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("password_changed_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime()),
)

# Signed-in sessions of the dashboard (store/sessions.py): the browser holds a random id, the
# store its SHA-256 only, who it is (an account, a token's SHA-256 or a single sign-on subject)
# and when it ends.
sessions = Table(
    "sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("how", String(16), nullable=False),  # password | token | sso
    Column("credential", String(255), nullable=False),  # account name | token SHA-256 | issuer sub
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# What people wrote into a release's breach report, one row per save of a section (the newest
# is the text; the rows before it the history), and the report's status, one row per change
# (record/report/drafts.py); each change is also on the release's timeline.
report_edits = Table(
    "report_edits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), nullable=False, index=True),
    Column("section", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("by", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

report_statuses = Table(
    "report_statuses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("release_id", String(128), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # draft | approved | sent | published
    Column("sent_on", String(10)),  # the date it was sent to the regulator, YYYY-MM-DD
    Column("by", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
