"""Who observed an observation of practice

Revision ID: 0030_observed_by
Revises: 0029_certificates_to_check
Create Date: 2026-12-01 01:45:00

An observation is worth what its observer is worth to a panel: who watched, and in what role, was written
into the description, if at all. A column of its own, like feedback's ``feedback_from``; NULL for the
observations saved before it (their pages say nothing, and their content hash keeps its shape).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0030_observed_by"
down_revision = "0029_certificates_to_check"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("observed_by", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("observed_by")
