"""Slack's OAuth install flow: slack_sdk's installation and state store tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

The tables are slack_sdk's own (SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore),
built with its table builders so the stores read and write them unchanged.
"""
import sqlalchemy as sa
from alembic import op

from store.models import NAMING, slack_oauth_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata = sa.MetaData(naming_convention=NAMING)
    for table in slack_oauth_tables(metadata):
        table.create(op.get_bind())


def downgrade() -> None:
    metadata = sa.MetaData(naming_convention=NAMING)
    for table in reversed(slack_oauth_tables(metadata)):
        table.drop(op.get_bind())
