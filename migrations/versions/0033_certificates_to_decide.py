"""The index of certificates to check gains whether one was sent back

Revision ID: 0033_certificates_to_decide
Revises: 0032_certificate_sent_back
Create Date: 2026-12-01 11:10:00

The homes of supervisors and managers count the certificates waiting for them from an index alone (0029); those
sent back no longer wait, so the index holds that column too. Built under a new name before the old one is dropped,
each step committing on its own on PostgreSQL (as 0027): the list keeps an index throughout, writes are never
blocked, and a run stopped half-way can be run again. (A build that failed leaves an INVALID index behind: drop it
by hand, DROP INDEX CONCURRENTLY, before running again.)
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0033_certificates_to_decide"
down_revision = "0032_certificate_sent_back"
branch_labels = None
depends_on = None

OLD, NEW = "ix_evidence_certificates_to_check", "ix_evidence_certificates_to_decide"
OLD_COLUMNS = ["kind", "checked_at", "created_at", "training_item_id", "is_private", "owner_id"]
NEW_COLUMNS = ["kind", "checked_at", "sent_back_at", "created_at", "training_item_id", "is_private", "owner_id"]


def _replace(drop: str, create: str, columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(create, "evidence", columns, postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(drop, table_name="evidence", postgresql_concurrently=True, if_exists=True)
    else:
        with op.batch_alter_table("evidence") as batch:
            batch.create_index(create, columns)
            batch.drop_index(drop)


def upgrade():
    _replace(OLD, NEW, NEW_COLUMNS)


def downgrade():
    _replace(NEW, OLD, OLD_COLUMNS)
