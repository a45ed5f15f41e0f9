"""An item that is not a draft has the time it was sent: the database holds every item to it

Revision ID: 0028_evidence_sent_has_time
Revises: 0027_evidence_waiting_order
Create Date: 2026-11-29 15:00:00

Every write path sets an item's ``submitted_at`` when it is sent (review.open_submission), and the review
queue's count and the worker's home (their waiting and returned items, in the order sent) read it alone.
A CHECK now refuses a sent item without it. Items written before that rule first take their latest
submission's time, or, with no submission at all, the time they were made.

On PostgreSQL adding the constraint reads the whole table once under an ACCESS EXCLUSIVE lock: reads and
writes of evidence wait until the migration commits (a fraction of a second for a service's tens of thousands
of items; NOT VALID, then VALIDATE in a transaction of its own, would shorten it for a far larger table).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0028_evidence_sent_has_time"
down_revision = "0027_evidence_waiting_order"
branch_labels = None
depends_on = None

NAME = "ck_evidence_sent_has_time"


def upgrade():
    op.execute(
        sa.text(
            "UPDATE evidence SET submitted_at = coalesce(("
            " SELECT max(submissions.submitted_at) FROM submissions WHERE submissions.evidence_id = evidence.id),"
            " created_at)"
            " WHERE status <> 'draft' AND submitted_at IS NULL"
        )
    )
    with op.batch_alter_table("evidence") as batch:
        batch.create_check_constraint(op.f(NAME), "status = 'draft' OR submitted_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f(NAME), type_="check")
