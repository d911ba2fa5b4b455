"""sweep_chunks: a sweep after T split into chunks any instance claims; checks.checked_by;
ix_checks_release_vantage

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "sweep_chunks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("sweep", sa.String(64), nullable=False),
        sa.Column("release_id", sa.String(128), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("claims", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_by", sa.Text),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("results", sa.JSON()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_chunks")),
    )
    op.create_index("ix_sweep_chunks_sweep", "sweep_chunks", ["sweep"])
    op.create_index("ix_sweep_chunks_open", "sweep_chunks", ["done_at", "id"])
    with op.batch_alter_table("checks") as batch:
        batch.add_column(sa.Column("checked_by", sa.Text, nullable=True))
    # an agent's latest result for a release, one index probe (respond.vantages)
    op.create_index("ix_checks_release_vantage", "checks", ["release_id", "vantage", "id"])


def downgrade() -> None:
    op.drop_index("ix_checks_release_vantage", "checks")
    with op.batch_alter_table("checks") as batch:
        batch.drop_column("checked_by")
    op.drop_index("ix_sweep_chunks_open", "sweep_chunks")
    op.drop_index("ix_sweep_chunks_sweep", "sweep_chunks")
    op.drop_table("sweep_chunks")
