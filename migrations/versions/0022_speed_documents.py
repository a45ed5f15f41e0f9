"""Documents built in the background: the data export and the panel PDF

Revision ID: 0022_speed_documents
Revises: 0022_steps_certificate_checks
Create Date: 2026-11-28 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_speed_documents"
down_revision = "0022_steps_certificate_checks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("data-export", "panel-pdf", name="documentkind", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("tier_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("building", "ready", "failed", name="documentstatus", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("download_name", sa.String(length=200), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], name=op.f("fk_documents_requested_by_id_users")),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_documents_worker_id_users")),
        sa.ForeignKeyConstraint(["tier_id"], ["tiers.id"], name=op.f("fk_documents_tier_id_tiers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    with op.batch_alter_table("documents") as batch:
        batch.create_index(batch.f("ix_documents_requested_by_id"), ["requested_by_id"], unique=False)
        batch.create_index(batch.f("ix_documents_worker_id"), ["worker_id"], unique=False)


def downgrade():
    with op.batch_alter_table("documents") as batch:
        batch.drop_index(batch.f("ix_documents_worker_id"))
        batch.drop_index(batch.f("ix_documents_requested_by_id"))
    op.drop_table("documents")
