"""Grouped notifications and the daily email digest: who wants which, what was emailed

Revision ID: 0022_notify_digest
Revises: 0022_identity_organisation
Create Date: 2026-11-28 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_notify_digest"
down_revision = "0022_identity_organisation"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "email_frequency",
                sa.Enum("daily", "immediate", name="emailfrequency", native_enum=False, length=40),
                server_default="daily",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("digest_sent_on", sa.Date(), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_key", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("items", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("email_subject", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_notifications_user_id_group_key"), ["user_id", "group_key"])
    # Every notice so far was emailed when it was made (or there was no SMTP to email it):
    # the first digest must not send them again.
    op.execute("UPDATE notifications SET emailed_at = created_at")


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notifications_user_id_group_key"), type_="unique")
        batch_op.drop_column("emailed_at")
        batch_op.drop_column("email_subject")
        batch_op.drop_column("items")
        batch_op.drop_column("group_key")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("digest_sent_on")
        batch_op.drop_column("email_frequency")
