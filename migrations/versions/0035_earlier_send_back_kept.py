"""A certificate changed after it was sent back keeps what its checker said, for the next check

Revision ID: 0035_earlier_send_back_kept
Revises: 0034_recommendations_revised
Create Date: 2026-12-01 21:40:00

A changed certificate forgets its check (a send-back is about what it was) and comes back to the list to check.
The next checker saw it as new: not what was wrong with it, so not what to look at first. The reason moves to its
own column when the certificate changes, and goes once the certificate is checked. A downgrade loses the reasons
kept (the ledger still holds each send-back).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0035_earlier_send_back_kept"
down_revision = "0034_recommendations_revised"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("earlier_sent_back_reason", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("earlier_sent_back_reason")
