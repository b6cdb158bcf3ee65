"""map_layers.source as Text (data credits are longer than 255 characters); login-attempt indexes
by account and by address (the throttle counts failures per account and per address)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("map_layers", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=255), type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_username_at", ["username", "at"], unique=False)
        batch_op.create_index("ix_login_attempts_ip_at", ["ip", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_ip_at")
        batch_op.drop_index("ix_login_attempts_username_at")
    with op.batch_alter_table("map_layers", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.Text(), type_=sa.String(length=255), existing_nullable=False)
