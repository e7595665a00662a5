"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consolidation_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("phases_completed", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consolidation_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consolidation_jobs_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "memories",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("memory_type", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("tool_usage", sa.JSON(), nullable=True),
        sa.Column("task_id", sa.String(length=128), nullable=True),
        sa.Column("agent_id", sa.String(length=128), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memories_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_memories_project_seq", ["project_id", "seq"], unique=False)

    op.create_table(
        "memory_embeddings",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "content_hash"),
    )
    op.create_table(
        "patterns",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("pattern_type", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("distinct_tasks", sa.Integer(), nullable=False),
        sa.Column("cohesion", sa.Float(), nullable=False),
        sa.Column("central_memory_id", sa.String(length=128), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patterns_project_id"), ["project_id"], unique=False)

    op.create_table(
        "playbook_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entry_id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("old_content", sa.Text(), nullable=True),
        sa.Column("new_content", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("playbook_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playbook_changes_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_playbook_changes_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "playbook_entries",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("helpful_count", sa.Integer(), nullable=False),
        sa.Column("harmful_count", sa.Integer(), nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_pattern_ids", sa.JSON(), nullable=False),
        sa.Column("source_principle_ids", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("playbook_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playbook_entries_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "principles",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("cohesion", sa.Float(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("principles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_principles_project_id"), ["project_id"], unique=False)

    op.create_table(
        "merged_memories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("canonical_memory_id", sa.String(length=128), nullable=False),
        sa.Column("pattern_id", sa.String(length=128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("min_similarity", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["canonical_memory_id"],
            ["memories.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("merged_memories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_merged_memories_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "pattern_members",
        sa.Column("pattern_id", sa.String(length=128), nullable=False),
        sa.Column("memory_id", sa.String(length=128), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_id"],
            ["memories.id"],
        ),
        sa.ForeignKeyConstraint(["pattern_id"], ["patterns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pattern_id", "memory_id"),
    )
    with op.batch_alter_table("pattern_members", schema=None) as batch_op:
        batch_op.create_index("ix_pattern_members_memory", ["memory_id"], unique=False)

    op.create_table(
        "playbook_entry_memories",
        sa.Column("entry_id", sa.String(length=128), nullable=False),
        sa.Column("memory_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["playbook_entries.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["memory_id"],
            ["memories.id"],
        ),
        sa.PrimaryKeyConstraint("entry_id", "memory_id"),
    )
    with op.batch_alter_table("playbook_entry_memories", schema=None) as batch_op:
        batch_op.create_index("ix_playbook_memories_memory", ["memory_id"], unique=False)

    op.create_table(
        "principle_patterns",
        sa.Column("principle_id", sa.String(length=128), nullable=False),
        sa.Column("pattern_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["principle_id"], ["principles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("principle_id", "pattern_id"),
    )
    op.create_table(
        "merged_memory_sources",
        sa.Column("merged_id", sa.String(length=128), nullable=False),
        sa.Column("memory_id", sa.String(length=128), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_id"],
            ["memories.id"],
        ),
        sa.ForeignKeyConstraint(["merged_id"], ["merged_memories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("merged_id", "memory_id"),
    )
    with op.batch_alter_table("merged_memory_sources", schema=None) as batch_op:
        batch_op.create_index("ix_merged_sources_memory", ["memory_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("merged_memory_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_merged_sources_memory")

    op.drop_table("merged_memory_sources")
    op.drop_table("principle_patterns")
    with op.batch_alter_table("playbook_entry_memories", schema=None) as batch_op:
        batch_op.drop_index("ix_playbook_memories_memory")

    op.drop_table("playbook_entry_memories")
    with op.batch_alter_table("pattern_members", schema=None) as batch_op:
        batch_op.drop_index("ix_pattern_members_memory")

    op.drop_table("pattern_members")
    with op.batch_alter_table("merged_memories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merged_memories_project_id"))

    op.drop_table("merged_memories")
    with op.batch_alter_table("principles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_principles_project_id"))

    op.drop_table("principles")
    with op.batch_alter_table("playbook_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_entries_project_id"))

    op.drop_table("playbook_entries")
    with op.batch_alter_table("playbook_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_changes_project_id"))
        batch_op.drop_index(batch_op.f("ix_playbook_changes_entry_id"))

    op.drop_table("playbook_changes")
    with op.batch_alter_table("patterns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patterns_project_id"))

    op.drop_table("patterns")
    op.drop_table("memory_embeddings")
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.drop_index("ix_memories_project_seq")
        batch_op.drop_index("ix_memories_project_created")

    op.drop_table("memories")
    with op.batch_alter_table("consolidation_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolidation_jobs_project_id"))

    op.drop_table("consolidation_jobs")
