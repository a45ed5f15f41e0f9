"""The owner-and-status index of evidence also carries an item's kind and named supervisor (PostgreSQL)

Revision ID: 0025_queue_covering_index
Revises: 0024_portfolio_versions
Create Date: 2026-11-29 03:30:00

A supervisor's queue is found from their supervisees' items: whose they are, what kind, and which
supervisor a supervision note names. With those columns in the index, PostgreSQL reads them without
visiting the wide rows (a seq scan of every item and a hash of it, before). SQLite looks the items up by
id one at a time there, so its index is unchanged.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0025_queue_covering_index"
down_revision = "0024_portfolio_versions"
branch_labels = None
depends_on = None

NAME = "ix_evidence_owner_status"


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _is_postgresql():
        op.drop_index(NAME, table_name="evidence")
        op.create_index(NAME, "evidence", ["owner_id", "status"], postgresql_include=["id", "kind", "supervisor_id"])


def downgrade():
    if _is_postgresql():
        op.drop_index(NAME, table_name="evidence")
        op.create_index(NAME, "evidence", ["owner_id", "status"], postgresql_include=["id"])
