"""The organisation's own identity: service name, organisation name, NHS or not, and its logo

Revision ID: 0022_identity_organisation
Revises: 0022_speed_documents
Create Date: 2026-11-28 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_identity_organisation"
down_revision = "0022_speed_documents"
branch_labels = None
depends_on = None


def upgrade():
    # No row is inserted: until a manager saves the Organisation page, configuration decides.
    op.create_table(
        "organisation_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_name", sa.String(length=80), nullable=False),
        sa.Column("organisation_name", sa.String(length=120), nullable=False),
        sa.Column("is_nhs", sa.Boolean(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.Column("logo_sha256", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_organisation_settings_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_settings")),
    )


def downgrade():
    op.drop_table("organisation_settings")
