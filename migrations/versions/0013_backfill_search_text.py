"""Fill evidence.search_text for the items written before 0007 added it

Revision ID: 0013_backfill_search_text
Revises: 0012_audit_checks
Create Date: 2026-11-28 06:30:00

0007 added the column with an empty default, so searching found none of the
items that existed before the upgrade. This fills it, batch by batch, with
the app's own ``search_text_of``: one function for both, so an old item is
found by exactly the words a new one would be. Importing app code in a
migration is usually avoided because models change; here only a pure text
function is imported (it reads attributes, not the ORM model), and the rows
are read and written through a table defined below with the columns as they
are at this revision. Should the function change later, running this again
recomputes with the newer rule, which is what search wants.
"""

from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from portfolio.evidence.kinds import PLAIN_COLUMNS, TEXT_COLUMNS
from portfolio.models import search_text_of

# revision identifiers, used by Alembic.
revision = "0013_backfill_search_text"
down_revision = "0012_audit_checks"
branch_labels = None
depends_on = None

BATCH = 500

# The typed and written columns evidence has at this revision: kinds list more later (0030's observed_by), which
# do not exist yet when this runs.
COLUMNS_HERE = ("title", "provider", "feedback_from", "what_happened", "what_learned", "practice_change")
COLUMNS_HERE += ("next_steps", "description")

evidence = sa.table(
    "evidence",
    sa.column("id", sa.Integer),
    sa.column("search_text", sa.Text),
    *(sa.column(name, sa.Text) for name in COLUMNS_HERE),
)


def _values(row) -> SimpleNamespace:
    """A row as search_text_of reads it: the columns a later revision adds are empty here."""
    return SimpleNamespace(**{**dict.fromkeys(PLAIN_COLUMNS + TEXT_COLUMNS), **row._mapping})


def upgrade():
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(evidence)
            .where(evidence.c.id > after, evidence.c.search_text == "")
            .order_by(evidence.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        changes = [{"row_id": row.id, "text": search_text_of(_values(row))} for row in rows]
        connection.execute(
            evidence.update().where(evidence.c.id == sa.bindparam("row_id")).values(search_text=sa.bindparam("text")),
            changes,
        )
        after = rows[-1].id


def downgrade():
    # The text is derived data: leaving it filled is harmless, and 0007's
    # downgrade drops the column.
    pass
