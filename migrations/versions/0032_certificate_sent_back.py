"""A supervisor or manager may send a certificate back, saying what is wrong, rather than check it

Revision ID: 0032_certificate_sent_back
Revises: 0031_promotion_withdrawn
Create Date: 2026-12-01 11:00:00

A certificate for another course, or an unreadable scan, could only be checked (a false record) or left in the
list to check with nobody telling the worker. Sent back, it leaves the list and counts for nothing until the worker
changes it. The list's index gains the new column in the next revision (built on its own: see 0033).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0032_certificate_sent_back"
down_revision = "0031_promotion_withdrawn"
branch_labels = None
depends_on = None

CHECK = "ck_evidence_checked_or_sent_back"
FOREIGN_KEY = "fk_evidence_sent_back_by_id_users"


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("sent_back_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sent_back_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_back_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(op.f(FOREIGN_KEY), "users", ["sent_back_by_id"], ["id"])
        batch.create_check_constraint(op.f(CHECK), "checked_at IS NULL OR sent_back_at IS NULL")


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.drop_constraint(op.f(FOREIGN_KEY), type_="foreignkey")
        batch.drop_column("sent_back_reason")
        batch.drop_column("sent_back_at")
        batch.drop_column("sent_back_by_id")
