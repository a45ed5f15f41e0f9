"""Covering indexes for the progress counts: sign-offs by item, what a decision accepted, items by owner

Revision ID: 0023_queries_indexes
Revises: 0022_notify_digest
Create Date: 2026-11-28 17:30:00

The accepted counts walk a worker's items to their signed-off decisions and what each accepted; these
indexes answer that without reading the tables' rows. On PostgreSQL the two owner indexes of evidence
also carry the item's id (INCLUDE), as SQLite's do by nature, so counting and ranking a worker's items
is an index-only scan there too.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0023_queries_indexes"
down_revision = "0022_notify_digest"
branch_labels = None
depends_on = None

EVIDENCE_INDEXES = (("ix_evidence_owner_occurred", "occurred_on"), ("ix_evidence_owner_status", "status"))


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    with op.batch_alter_table("decisions") as batch:
        batch.drop_index("ix_decisions_evidence_id")
        batch.create_index("ix_decisions_evidence_outcome", ["evidence_id", "outcome"], postgresql_include=["id"])
    with op.batch_alter_table("competence_decisions") as batch:
        batch.create_index("ix_competence_decisions_decision_accepted", ["decision_id", "accepted", "competence_id"])
    if _is_postgresql():
        for name, column in EVIDENCE_INDEXES:
            op.drop_index(name, table_name="evidence")
            op.create_index(name, "evidence", ["owner_id", column], postgresql_include=["id"])


def downgrade():
    if _is_postgresql():
        for name, column in EVIDENCE_INDEXES:
            op.drop_index(name, table_name="evidence")
            op.create_index(name, "evidence", ["owner_id", column])
    with op.batch_alter_table("competence_decisions") as batch:
        batch.drop_index("ix_competence_decisions_decision_accepted")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_index("ix_decisions_evidence_outcome")
        batch.create_index("ix_decisions_evidence_id", ["evidence_id"])
