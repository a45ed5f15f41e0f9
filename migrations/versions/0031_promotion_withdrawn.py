"""A worker may withdraw a promotion request before it is decided

Revision ID: 0031_promotion_withdrawn
Revises: 0030_observed_by
Create Date: 2026-12-01 04:30:00

A request asked too early, or overtaken by a move, stayed open until a manager declined it: a decline on the
worker's record for what was only a change of plan. The time of the withdrawal closes it; NULL is open.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0031_promotion_withdrawn"
down_revision = "0030_observed_by"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("promotion_requests") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("promotion_requests") as batch:
        batch.drop_column("withdrawn_at")
