"""A supervisor may change their recommendation on an open promotion request

Revision ID: 0034_recommendations_revised
Revises: 0033_certificates_to_decide
Create Date: 2026-12-01 11:30:00

One recommendation per supervisor and request was a unique constraint: a supervisor who pressed the wrong answer,
or changed their mind as the worker's practice moved on, could not say so, and the manager decided on what no
longer held. A change is a new row (the earlier stays on the record); the newest of each supervisor counts. The
index keeps finding a supervisor's recommendations on a request from the pair.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0034_recommendations_revised"
down_revision = "0033_certificates_to_decide"
branch_labels = None
depends_on = None

UNIQUE = "uq_promotion_recommendations_request_id_supervisor_id"
INDEX = "ix_promotion_recommendations_request_supervisor"


def upgrade():
    with op.batch_alter_table("promotion_recommendations") as batch:
        batch.drop_constraint(op.f(UNIQUE), type_="unique")
        batch.create_index(INDEX, ["request_id", "supervisor_id"])


def downgrade():
    # Only the newest of each supervisor's recommendations fits the constraint again: the earlier ones go, and the
    # audit ledger's rows that bound them no longer verify (`flask audit verify` names each). Run it only to go back
    # on a deployment, before anyone has changed a recommendation.
    op.execute(
        "DELETE FROM promotion_recommendations WHERE id NOT IN ("
        " SELECT max(id) FROM promotion_recommendations GROUP BY request_id, supervisor_id)"
    )
    with op.batch_alter_table("promotion_recommendations") as batch:
        batch.drop_index(INDEX)
        batch.create_unique_constraint(op.f(UNIQUE), ["request_id", "supervisor_id"])
