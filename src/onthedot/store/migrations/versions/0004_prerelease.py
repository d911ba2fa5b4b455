"""pre-release access: the grants of signed links to staged files, and every opening of one

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-16 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prerelease_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("release_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prerelease_grants")),
    )
    op.create_index(
        op.f("ix_prerelease_grants_release_id"), "prerelease_grants", ["release_id"], unique=False
    )
    op.create_table(
        "prerelease_openings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("release_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prerelease_openings")),
    )
    op.create_index(
        op.f("ix_prerelease_openings_grant_id"), "prerelease_openings", ["grant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_prerelease_openings_grant_id"), table_name="prerelease_openings")
    op.drop_table("prerelease_openings")
    op.drop_index(op.f("ix_prerelease_grants_release_id"), table_name="prerelease_grants")
    op.drop_table("prerelease_grants")
