"""A version token per worker's portfolio, so that server processes may keep what they counted

Revision ID: 0024_portfolio_versions
Revises: 0023_queries_indexes
Create Date: 2026-11-28 21:00:00

Written in the same transaction as any change to what progress is counted from (items, links,
decisions, note reviews, a worker's framework; owner 0 for the frameworks themselves): see
portfolio/progress/versions.py. No rows are needed at first: a worker without one has not changed
since the table was made.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024_portfolio_versions"
down_revision = "0023_queries_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "portfolio_versions",
        sa.Column("owner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_portfolio_versions")),
    )


def downgrade():
    op.drop_table("portfolio_versions")
