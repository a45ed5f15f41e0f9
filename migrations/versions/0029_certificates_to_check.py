"""An index of certificates by whether they are checked: the homes count and list those waiting for a check

Revision ID: 0029_certificates_to_check
Revises: 0028_evidence_sent_has_time
Create Date: 2026-11-29 23:10:00

A supervisor's and a manager's home say how many certificates wait for their check and list the oldest ten.
Both read every item of the service to find them (two scans of evidence and its reflective text: 2.3 ms on
SQLite for 3,600 items). With the kind and the check first, the count reads only the index entries of
unchecked certificates, and the list the first ten of them in the order they were added.

On PostgreSQL the index is built CONCURRENTLY: writes to evidence go on meanwhile (outside the migration's
transaction).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0029_certificates_to_check"
down_revision = "0028_evidence_sent_has_time"
branch_labels = None
depends_on = None

NAME = "ix_evidence_certificates_to_check"
COLUMNS = ["kind", "checked_at", "created_at", "training_item_id", "is_private", "owner_id"]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # A build that failed leaves an INVALID index behind, and running again then stops on its name (no IF NOT
        # EXISTS, which would take the invalid one for the index): drop it (DROP INDEX CONCURRENTLY) and run again.
        with op.get_context().autocommit_block():
            op.create_index(NAME, "evidence", COLUMNS, postgresql_concurrently=True)
    else:
        op.create_index(NAME, "evidence", COLUMNS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="evidence", postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(NAME, table_name="evidence")
