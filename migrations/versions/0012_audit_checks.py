"""Audit ledger rows bind the content of their record; verify runs are kept

Revision ID: 0012_audit_checks
Revises: 0011_idempotency
Create Date: 2026-11-28 06:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_audit_checks"
down_revision = "0011_idempotency"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_ledger", schema=None) as batch_op:
        # Rows already written stay format 1: chain-checked only.
        batch_op.add_column(sa.Column("format", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("record_type", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("record_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))

    op.create_table(
        "audit_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("rows_checked", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("first_problem", sa.String(length=500), nullable=False),
        sa.Column("run_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_by_id"], ["users.id"], name=op.f("fk_audit_checks_run_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checks")),
    )
    with op.batch_alter_table("audit_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checks_at"), ["at"], unique=False)


def downgrade():
    with op.batch_alter_table("audit_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checks_at"))
    op.drop_table("audit_checks")

    with op.batch_alter_table("audit_ledger", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
        batch_op.drop_column("content")
        batch_op.drop_column("record_id")
        batch_op.drop_column("record_type")
        batch_op.drop_column("format")
