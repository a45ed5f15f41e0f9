"""Who checked a training certificate, and when: it counts for compliance only once checked

Revision ID: 0022_steps_certificate_checks
Revises: 0021_credentials
Create Date: 2026-11-28 14:05:00

Certificates already in the database are left unchecked: a check names who made it, and nobody
has. They appear in their supervisors' and managers' lists of certificates to check.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_steps_certificate_checks"
down_revision = "0021_credentials"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("checked_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_evidence_checked_by_id_users"), "users", ["checked_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f("fk_evidence_checked_by_id_users"), type_="foreignkey")
        batch.drop_column("checked_at")
        batch.drop_column("checked_by_id")
