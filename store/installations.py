"""Queries on the install flow's tables (slack_sdk's SQLAlchemy installation store keeps
them; Baton's migrations create them)."""

from __future__ import annotations

from sqlalchemy import Connection, Table, select


def latest_bot_token(conn: Connection, *, bots: Table, client_id: str,
                     team_id: str) -> str | None:
    """The newest install's bot token for the workspace, whatever its Enterprise Grid
    organisation (the store's find_bot would ask for enterprise_id IS NULL)."""
    token = conn.execute(
        select(bots.c.bot_token)
        .where(bots.c.client_id == client_id, bots.c.team_id == team_id)
        .order_by(bots.c.installed_at.desc(), bots.c.id.desc()).limit(1)).scalar()
    return str(token) if token is not None else None
