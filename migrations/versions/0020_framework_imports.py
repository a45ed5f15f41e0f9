"""Framework files uploaded for import, held for the preview

Revision ID: 0020_framework_imports
Revises: 0013_backfill_search_text
Create Date: 2026-11-28 10:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_framework_imports"
down_revision = "0013_backfill_search_text"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "framework_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=40), nullable=False),
        sa.Column("tree", sa.JSON(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("framework_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_framework_imports_uploaded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["framework_id"], ["frameworks.id"], name=op.f("fk_framework_imports_framework_id_frameworks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework_imports")),
    )


def downgrade():
    op.drop_table("framework_imports")
