"""accounts, sign-in sessions, and what people wrote into breach reports with their status

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("password_changed_at", WHEN, nullable=False),
        sa.Column("disabled_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("credential", sa.String(length=255), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)
    for name, columns in (
        ("report_edits", _edit_columns()),
        ("report_statuses", _status_columns()),
    ):
        op.create_table(
            name,
            sa.Column("id", ID, autoincrement=True, nullable=False),
            sa.Column("release_id", sa.String(length=128), nullable=False),
            *columns,
            sa.Column("by", sa.Text(), nullable=False),
            sa.Column("role", sa.String(length=32), nullable=False),
            sa.Column("at", WHEN, nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        )
        op.create_index(op.f(f"ix_{name}_release_id"), name, ["release_id"], unique=False)


def _edit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("section", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    ]


def _status_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_on", sa.String(length=10), nullable=True),
    ]


def downgrade() -> None:
    for name in ("report_statuses", "report_edits"):
        op.drop_index(op.f(f"ix_{name}_release_id"), table_name=name)
        op.drop_table(name)
    op.drop_index(op.f("ix_sessions_expires_at"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("accounts")
