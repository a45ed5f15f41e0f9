"""A supervisor or manager may send a certificate back, saying what is wrong, rather than check it

Revision ID: 0032_certificate_sent_back
Revises: 0031_promotion_withdrawn
Create Date: 2026-12-01 11:00:00

A certificate for another course, or an unreadable scan, could only be checked (a false record) or left in the
list to check with nobody telling the worker. Sent back, it leaves the list and counts for nothing until the worker
changes it. The list's index gains the new column, so that the homes still count what waits from the index alone.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0032_certificate_sent_back"
down_revision = "0031_promotion_withdrawn"
branch_labels = None
depends_on = None

INDEX = "ix_evidence_certificates_to_check"
CHECK = "ck_evidence_checked_or_sent_back"
FOREIGN_KEY = "fk_evidence_sent_back_by_id_users"
OLD_COLUMNS = ["kind", "checked_at", "created_at", "training_item_id", "is_private", "owner_id"]
NEW_COLUMNS = ["kind", "checked_at", "sent_back_at", "created_at", "training_item_id", "is_private", "owner_id"]


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("sent_back_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sent_back_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_back_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(op.f(FOREIGN_KEY), "users", ["sent_back_by_id"], ["id"])
        batch.create_check_constraint(op.f(CHECK), "checked_at IS NULL OR sent_back_at IS NULL")
    _rebuild_index(NEW_COLUMNS)


def downgrade():
    _rebuild_index(OLD_COLUMNS)
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.drop_constraint(op.f(FOREIGN_KEY), type_="foreignkey")
        batch.drop_column("sent_back_reason")
        batch.drop_column("sent_back_at")
        batch.drop_column("sent_back_by_id")


def _rebuild_index(columns: list[str]) -> None:
    """The list's index on ``columns``: built without locking the table against writes on PostgreSQL (see 0029)."""
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name="evidence", postgresql_concurrently=True, if_exists=True)
            op.create_index(INDEX, "evidence", columns, postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name="evidence")
        op.create_index(INDEX, "evidence", columns)
