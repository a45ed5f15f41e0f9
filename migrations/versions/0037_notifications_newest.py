"""An index of each person's notices, newest first: their list is paged

Revision ID: 0037_notifications_newest
Revises: 0036_certificates_waiting
Create Date: 2026-12-04 11:00:00

The notifications page showed a person's newest 50 notices and no others, and found them by reading every notice
of theirs and sorting them (1,000 on the benchmark's data). It is now paged like every other long list; with this
index the database reads the page's rows in order and stops (it counts them from an index, as before).

Built CONCURRENTLY on PostgreSQL, outside the migration's transaction, as 0033: writes go on meanwhile, and a run
stopped half-way can be run again. (A build that failed leaves an INVALID index behind: drop it by hand, DROP INDEX
CONCURRENTLY, before running again.)
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0037_notifications_newest"
down_revision = "0036_certificates_waiting"
branch_labels = None
depends_on = None

NAME = "ix_notifications_user_newest"
COLUMNS = ["user_id", "created_at", "id"]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(NAME, "notifications", COLUMNS, postgresql_concurrently=True, if_not_exists=True)
    else:
        with op.batch_alter_table("notifications") as batch:
            batch.create_index(NAME, COLUMNS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="notifications", postgresql_concurrently=True, if_exists=True)
    else:
        with op.batch_alter_table("notifications") as batch:
            batch.drop_index(NAME)
