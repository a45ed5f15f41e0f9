"""The owner-and-status index of evidence also orders by when an item was sent: a worker's oldest waiting items

Revision ID: 0027_evidence_waiting_order
Revises: 0026_evidence_owner_kind
Create Date: 2026-11-29 10:00:00

The worker's home lists their ten oldest items waiting for a decision. It found every waiting item of
theirs and sorted them all (600 for the benchmark's worker: 1.3 ms of PostgreSQL's time on every visit
to the home). With the time an item was sent as the index's third column, the ten are read in order.

A submission's time and its item's ``submitted_at`` are now the same moment (review/service.py), so this
copies the open submissions' times onto their items first: the order is then exactly the submissions'.

On PostgreSQL the new index is built, and the old one dropped, CONCURRENTLY: writes to evidence go on
meanwhile (each step runs outside the migration's transaction).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0027_evidence_waiting_order"
down_revision = "0026_evidence_owner_kind"
branch_labels = None
depends_on = None

OLD, NEW = "ix_evidence_owner_status", "ix_evidence_owner_status_submitted"
INCLUDE = ["id", "kind", "supervisor_id"]


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _replace(drop: str, create: str, columns: list[str]) -> None:
    if _is_postgresql():
        # Each step commits on its own, so a run stopped half-way can be run again. (A build that failed
        # leaves an INVALID index behind: drop it by hand, DROP INDEX CONCURRENTLY, before running again.)
        with op.get_context().autocommit_block():
            op.create_index(
                create,
                "evidence",
                columns,
                postgresql_include=INCLUDE,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
            op.drop_index(drop, table_name="evidence", postgresql_concurrently=True, if_exists=True)
    else:
        with op.batch_alter_table("evidence") as batch:
            batch.create_index(create, columns)
            batch.drop_index(drop)


def upgrade():
    # The items waiting now take their open submission's time (set a moment apart until this revision). An
    # item has one open submission (submit locks it); max() keeps the statement valid should one have two.
    op.execute(
        sa.text(
            "UPDATE evidence SET submitted_at = ("
            " SELECT max(submissions.submitted_at) FROM submissions"
            " WHERE submissions.evidence_id = evidence.id AND submissions.withdrawn_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM decisions WHERE decisions.submission_id = submissions.id))"
            " WHERE status = 'submitted' AND EXISTS ("
            " SELECT 1 FROM submissions WHERE submissions.evidence_id = evidence.id"
            " AND submissions.withdrawn_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM decisions WHERE decisions.submission_id = submissions.id))"
        )
    )
    _replace(OLD, NEW, ["owner_id", "status", "submitted_at"])


def downgrade():
    _replace(NEW, OLD, ["owner_id", "status"])
