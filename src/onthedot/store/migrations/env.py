"""Alembic environment: migrations run on the connection handed in by ``store.db.open_store``."""

from __future__ import annotations

from alembic import context

from onthedot.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through open_store
    raise RuntimeError("run migrations through onthedot.store.db.open_store")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
