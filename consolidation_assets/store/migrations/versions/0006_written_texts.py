"""principle labels, citations and writers; the LLM writer's answers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("principles") as batch:
        batch.add_column(sa.Column("label", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("cited_memory_ids", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("writer", sa.String(length=200), nullable=False, server_default="extractive")
        )
    op.create_table(
        "written_texts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("written_texts")
    with op.batch_alter_table("principles") as batch:
        batch.drop_column("writer")
        batch.drop_column("cited_memory_ids")
        batch.drop_column("label")
