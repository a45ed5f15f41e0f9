"""An index of evidence by owner, kind and date: a worker's certificates, and My portfolio's kind filter

Revision ID: 0026_evidence_owner_kind
Revises: 0025_queue_covering_index
Create Date: 2026-11-29 04:20:00

The worker's training table reads their certificates, and My portfolio filtered by kind reads one kind of
their items, newest first. For a worker with 2,000 items both walked every item by date and looked each
one's kind up in the table (0.7 ms on SQLite for the one certificate of the benchmark's worker; 0.006 ms
with this index).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0026_evidence_owner_kind"
down_revision = "0025_queue_covering_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.create_index("ix_evidence_owner_kind", ["owner_id", "kind", "occurred_on"], postgresql_include=["id"])


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index("ix_evidence_owner_kind")
