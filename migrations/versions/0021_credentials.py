"""Open Badges 3.0 credentials issued for met tiers, with their revocation status

Revision ID: 0021_credentials
Revises: 0020_framework_imports
Create Date: 2026-11-28 10:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_credentials"
down_revision = "0020_framework_imports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "issued_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["worker_id"], ["users.id"], name=op.f("fk_issued_credentials_worker_id_users")),
        sa.ForeignKeyConstraint(
            ["framework_id"], ["frameworks.id"], name=op.f("fk_issued_credentials_framework_id_frameworks")
        ),
        sa.ForeignKeyConstraint(["tier_id"], ["tiers.id"], name=op.f("fk_issued_credentials_tier_id_tiers")),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["users.id"], name=op.f("fk_issued_credentials_revoked_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_credentials")),
        sa.UniqueConstraint("public_id", name=op.f("uq_issued_credentials_public_id")),
        sa.UniqueConstraint("status_index", name=op.f("uq_issued_credentials_status_index")),
    )
    with op.batch_alter_table("issued_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issued_credentials_worker_id"), ["worker_id"], unique=False)


def downgrade():
    with op.batch_alter_table("issued_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_credentials_worker_id"))
    op.drop_table("issued_credentials")
