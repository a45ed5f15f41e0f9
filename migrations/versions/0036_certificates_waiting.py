"""An index of the certificates waiting for a check alone, by owner

Revision ID: 0036_certificates_waiting
Revises: 0035_earlier_send_back_kept
Create Date: 2026-12-04 05:30:00

Every supervisor's and manager's home reads the oldest certificates waiting for their check and how many wait. On
PostgreSQL that read every unchecked certificate's row of the service (840 on the benchmark's data, 86 pages of
evidence) and, for a supervisor, kept her supervisees' afterwards: a third of her home's one query. This index holds
only the certificates waiting (its condition, models.CERTIFICATES_WAITING), so the read is a few hundred index
entries. SQLite keeps reading the wider index of 0033 (it does not use this one for these queries); the new one
costs it next to nothing, as only waiting certificates are in it.

Built CONCURRENTLY on PostgreSQL, outside the migration's transaction, as 0033: writes go on meanwhile, and a run
stopped half-way can be run again. (A build that failed leaves an INVALID index behind: drop it by hand, DROP INDEX
CONCURRENTLY, before running again.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0036_certificates_waiting"
down_revision = "0035_earlier_send_back_kept"
branch_labels = None
depends_on = None

NAME = "ix_evidence_certificates_waiting"
# As models.CERTIFICATES_WAITING on the day this was written (a migration never imports the models).
WAITING = (
    "kind = 'certificate' AND training_item_id IS NOT NULL AND checked_at IS NULL AND sent_back_at IS NULL"
    " AND is_private IS false"
)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                NAME,
                "evidence",
                ["owner_id", "created_at"],
                postgresql_include=["id"],
                postgresql_where=sa.text(WAITING),
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        with op.batch_alter_table("evidence") as batch:
            batch.create_index(NAME, ["owner_id", "created_at"], sqlite_where=sa.text(WAITING))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="evidence", postgresql_concurrently=True, if_exists=True)
    else:
        with op.batch_alter_table("evidence") as batch:
            batch.drop_index(NAME)
